/**
 * GPU picking for the point cloud: the cloud's geometry is drawn once more, into a 1 x 1 render target
 * that covers only the pixel under the pointer (`camera.setViewOffset`), with a shader that writes each
 * point's vertex index (`gl_VertexID + 1`, 32 bits over RGBA) instead of its colour. Reading that one
 * pixel gives the nearest point drawn there (depth test on). No CPU raycast over millions of points.
 *
 * Needs WebGL 2 (`gl_VertexID`), which three.js 0.187 requires anyway.
 */
import * as THREE from 'three';

const VERTEX = /* glsl */ `
uniform float pickSize;
varying vec4 vId;
void main() {
  int id = gl_VertexID + 1;
  vId = vec4(float(id & 255), float((id >> 8) & 255), float((id >> 16) & 255), float((id >> 24) & 255)) / 255.0;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
  gl_PointSize = pickSize;
}`;

const FRAGMENT = /* glsl */ `
varying vec4 vId;
void main() {
  gl_FragColor = vId;
}`;

export class GpuPicker {
  private readonly target = new THREE.WebGLRenderTarget(1, 1, { type: THREE.UnsignedByteType, format: THREE.RGBAFormat, depthBuffer: true });
  private readonly material = new THREE.ShaderMaterial({
    vertexShader: VERTEX,
    fragmentShader: FRAGMENT,
    uniforms: { pickSize: { value: 6 } },
    blending: THREE.NoBlending,
    depthTest: true,
    depthWrite: true,
  });
  private readonly scene = new THREE.Scene();
  private readonly points = new THREE.Points(new THREE.BufferGeometry(), this.material);
  private readonly pixel = new Uint8Array(4);
  private readonly clear = new THREE.Color();

  constructor() {
    this.points.frustumCulled = false;
    this.scene.add(this.points);
  }

  /**
   * The index (in draw order) of the point under CSS pixel (x, y) of a canvas of cssWidth x cssHeight,
   * or -1 when no point is there.
   * @param source the drawn `Points` (its geometry and world matrix are used).
   * @param pickSizeCss point diameter for picking, CSS pixels (a little larger than drawn makes clicks forgiving).
   */
  pick(gl: THREE.WebGLRenderer, camera: THREE.Camera, source: THREE.Points, x: number, y: number, cssWidth: number, cssHeight: number, pickSizeCss: number): number {
    if (!(camera instanceof THREE.PerspectiveCamera || camera instanceof THREE.OrthographicCamera)) return -1;
    if (x < 0 || y < 0 || x >= cssWidth || y >= cssHeight) return -1;
    this.points.geometry = source.geometry;
    this.points.matrixAutoUpdate = false;
    this.points.matrix.copy(source.matrixWorld);
    this.points.matrixWorld.copy(source.matrixWorld);
    this.material.uniforms.pickSize!.value = Math.max(1, pickSizeCss);
    const prevTarget = gl.getRenderTarget();
    gl.getClearColor(this.clear);
    const prevAlpha = gl.getClearAlpha();
    camera.setViewOffset(cssWidth, cssHeight, Math.floor(x), Math.floor(y), 1, 1);
    try {
      gl.setRenderTarget(this.target);
      gl.setClearColor(0x000000, 0);
      gl.clear(true, true, true);
      gl.render(this.scene, camera);
      gl.readRenderTargetPixels(this.target, 0, 0, 1, 1, this.pixel);
    } finally {
      camera.clearViewOffset();
      gl.setRenderTarget(prevTarget);
      gl.setClearColor(this.clear, prevAlpha);
    }
    const p = this.pixel;
    const id = (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
    return id === 0 ? -1 : id - 1;
  }

  dispose(): void {
    this.target.dispose();
    this.material.dispose();
  }
}
