// The SP2 lab: SDDL and the machine-wide DCOM security policy.
export * from './sddl';
export * from './policy';
export * from './callback';
export * from './client-box';
export * from './enforce';
export * from './firewall';
export * from './scenarios';
export * from './server-box';
