export * from './constants';
export * from './codec';
export * from './fragment';
export * from './framer';
