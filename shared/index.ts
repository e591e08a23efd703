export * from './doctor.ts';
export * from './api.ts';
