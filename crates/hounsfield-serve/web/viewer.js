// A small WebGL2 viewer of surface meshes (binary STL in LPS millimetres, as hounsfield-mesh
// writes them): several meshes, each in its own colour and shown or hidden, turned by dragging,
// zoomed by the wheel, lit by a headlight. Superior is up; the first view is from the front
// (patient's left on the right of the screen).

const VERTEX = `#version 300 es
in vec3 position;
in vec3 normal;
uniform mat4 view;
uniform mat4 projection;
out vec3 eyeNormal;
out vec3 eyePosition;
void main() {
  vec4 p = view * vec4(position, 1.0);
  eyePosition = p.xyz;
  eyeNormal = mat3(view) * normal;
  gl_Position = projection * p;
}`;

const FRAGMENT = `#version 300 es
precision highp float;
in vec3 eyeNormal;
in vec3 eyePosition;
uniform vec3 colour;
uniform float opacity;
out vec4 fragment;
void main() {
  vec3 n = normalize(eyeNormal);
  vec3 toEye = normalize(-eyePosition);
  if (!gl_FrontFacing) n = -n;
  float diffuse = abs(dot(n, toEye));
  float specular = pow(max(dot(reflect(-toEye, n), toEye), 0.0), 24.0);
  fragment = vec4(colour * (0.25 + 0.7 * diffuse) + vec3(0.25 * specular), opacity);
}`;

/** Triangles of a binary STL: positions and face normals, three vertices per triangle. */
export function parseStl(buffer) {
  const data = new DataView(buffer);
  if (buffer.byteLength < 84) throw new Error("not a binary STL: shorter than its header");
  const count = data.getUint32(80, true);
  if (84 + count * 50 !== buffer.byteLength) {
    throw new Error(`not a binary STL: ${count} triangles need ${84 + count * 50} bytes, found ${buffer.byteLength}`);
  }
  const positions = new Float32Array(count * 9);
  const normals = new Float32Array(count * 9);
  for (let t = 0; t < count; t++) {
    const at = 84 + t * 50;
    const v = [];
    for (let k = 0; k < 9; k++) v.push(data.getFloat32(at + 12 + 4 * k, true));
    // The face normal from the vertices (right-handed winding, outward for our meshes).
    const ux = v[3] - v[0], uy = v[4] - v[1], uz = v[5] - v[2];
    const wx = v[6] - v[0], wy = v[7] - v[1], wz = v[8] - v[2];
    let nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
    const len = Math.hypot(nx, ny, nz) || 1;
    nx /= len; ny /= len; nz /= len;
    for (let k = 0; k < 9; k++) positions[t * 9 + k] = v[k];
    for (let c = 0; c < 3; c++) {
      normals[t * 9 + c * 3] = nx;
      normals[t * 9 + c * 3 + 1] = ny;
      normals[t * 9 + c * 3 + 2] = nz;
    }
  }
  return { positions, normals, count };
}

function perspective(fovy, aspect, near, far) {
  const f = 1 / Math.tan(fovy / 2), nf = 1 / (near - far);
  return new Float32Array([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0]);
}

function multiply(a, b) {
  const out = new Float32Array(16);
  for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
    let s = 0;
    for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
    out[c * 4 + r] = s;
  }
  return out;
}

/** Column-major 4x4 from a 3x3 rotation (rows = camera axes in world) and a translation. */
function viewMatrix(yaw, pitch, distance, centre) {
  // Camera looks at `centre` from the front (-y, anterior in LPS), turned by yaw about +z
  // (superior) and pitch about the camera's x axis.
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const forward = [sy * cp, cy * cp, sp];            // from the eye towards the centre
  const right = [cy, -sy, 0];                         // screen x: patient's left at yaw 0
  const up = [                                         // right x forward... kept orthonormal
    right[1] * forward[2] - right[2] * forward[1],
    right[2] * forward[0] - right[0] * forward[2],
    right[0] * forward[1] - right[1] * forward[0],
  ];
  const eye = centre.map((c, i) => c - forward[i] * distance);
  const back = forward.map((v) => -v);
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  return new Float32Array([
    right[0], up[0], back[0], 0,
    right[1], up[1], back[1], 0,
    right[2], up[2], back[2], 0,
    -dot(right, eye), -dot(up, eye), -dot(back, eye), 1,
  ]);
}

export class MeshViewer {
  constructor(canvas) {
    this.canvas = canvas;
    const gl = canvas.getContext("webgl2", { antialias: true, preserveDrawingBuffer: true });
    if (!gl) throw new Error("this browser has no WebGL2");
    this.gl = gl;
    this.meshes = [];
    this.yaw = 0;
    this.pitch = 0;
    this.zoom = 1;
    this.program = this.link();
    this.listen();
    this.draw();
  }

  link() {
    const gl = this.gl;
    const compile = (type, source) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, source);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const p = gl.createProgram();
    gl.attachShader(p, compile(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(p, compile(gl.FRAGMENT_SHADER, FRAGMENT));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    return p;
  }

  listen() {
    let last = null;
    this.canvas.addEventListener("pointerdown", (e) => { last = [e.clientX, e.clientY]; this.canvas.setPointerCapture(e.pointerId); });
    this.canvas.addEventListener("pointerup", () => { last = null; });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!last) return;
      this.yaw += (e.clientX - last[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (e.clientY - last[1]) * 0.01));
      last = [e.clientX, e.clientY];
      this.draw();
    });
    this.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoom = Math.max(0.2, Math.min(8, this.zoom * Math.exp(-e.deltaY * 0.001)));
      this.draw();
    }, { passive: false });
  }

  clear() {
    for (const m of this.meshes) { this.gl.deleteBuffer(m.positions); this.gl.deleteBuffer(m.normals); }
    this.meshes = [];
    this.draw();
  }

  /** Adds a mesh from binary STL bytes; returns its triangle count. */
  add(name, buffer, colour, opacity = 1) {
    const gl = this.gl;
    const stl = parseStl(buffer);
    const upload = (array) => {
      const b = gl.createBuffer();
      gl.bindBuffer(gl.ARRAY_BUFFER, b);
      gl.bufferData(gl.ARRAY_BUFFER, array, gl.STATIC_DRAW);
      return b;
    };
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < stl.positions.length; i += 3) {
      for (let k = 0; k < 3; k++) {
        lo[k] = Math.min(lo[k], stl.positions[i + k]);
        hi[k] = Math.max(hi[k], stl.positions[i + k]);
      }
    }
    this.meshes.push({
      name, colour: colour.map((c) => c / 255), opacity, visible: true, lo, hi,
      positions: upload(stl.positions), normals: upload(stl.normals), vertices: stl.count * 3,
    });
    this.draw();
    return stl.count;
  }

  setVisible(name, visible) {
    for (const m of this.meshes) if (m.name === name) m.visible = visible;
    this.draw();
  }

  draw() {
    const gl = this.gl, canvas = this.canvas;
    const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
    if (canvas.width !== width || canvas.height !== height) { canvas.width = width; canvas.height = height; }
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0.08, 0.08, 0.11, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    const shown = this.meshes.filter((m) => m.visible);
    if (!shown.length) return;
    const lo = [0, 1, 2].map((k) => Math.min(...shown.map((m) => m.lo[k])));
    const hi = [0, 1, 2].map((k) => Math.max(...shown.map((m) => m.hi[k])));
    const centre = lo.map((l, k) => (l + hi[k]) / 2);
    const radius = Math.max(1e-3, Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) / 2);
    const fovy = Math.PI / 5;
    const distance = radius / Math.sin(fovy / 2) / this.zoom;
    const view = viewMatrix(this.yaw, this.pitch, distance, centre);
    const projection = perspective(fovy, canvas.width / canvas.height, Math.max(distance - 2 * radius, distance * 0.01), distance + 2 * radius);
    gl.useProgram(this.program);
    gl.enable(gl.DEPTH_TEST);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.uniformMatrix4fv(gl.getUniformLocation(this.program, "view"), false, view);
    gl.uniformMatrix4fv(gl.getUniformLocation(this.program, "projection"), false, projection);
    const attribute = (name, buffer) => {
      const at = gl.getAttribLocation(this.program, name);
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(at);
      gl.vertexAttribPointer(at, 3, gl.FLOAT, false, 0, 0);
    };
    // Opaque meshes first, then translucent ones without depth writes.
    for (const m of [...shown].sort((a, b) => b.opacity - a.opacity)) {
      gl.depthMask(m.opacity >= 1);
      attribute("position", m.positions);
      attribute("normal", m.normals);
      gl.uniform3fv(gl.getUniformLocation(this.program, "colour"), m.colour);
      gl.uniform1f(gl.getUniformLocation(this.program, "opacity"), m.opacity);
      gl.drawArrays(gl.TRIANGLES, 0, m.vertices);
    }
    gl.depthMask(true);
  }
}

// For tests and the console: the matrix helpers.
export const _internal = { multiply, perspective, viewMatrix };
