/**
 * The 3D inspector: reconstructions (point clouds, camera frustums) and masks, with picking and
 * measurement. Mounted by the renderer when a user opens an artifact ("Open in 3D"). See docs/inspector.md.
 */
export { Inspector } from './Inspector.tsx';
export type { InspectorProps } from './Inspector.tsx';
