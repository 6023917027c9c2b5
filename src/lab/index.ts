// The SP2 lab: SDDL and the machine-wide DCOM security policy.
export * from './sddl';
export * from './policy';
