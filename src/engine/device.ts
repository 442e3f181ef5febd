// The one place that acquires a WebGPU device. Node (npm `webgpu`, Dawn) and browsers
// (`navigator.gpu`) differ only in how the GPU object is obtained; everything after that is shared.

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU implementations (lavapipe/llvmpipe, SwiftShader): they want different tiling. */
  isSoftware: boolean;
}

export interface DeviceOptions {
  /** Dawn toggles/options for Node, e.g. 'backend=vulkan' or 'adapter=<name>'. */
  dawnOptions?: string[];
  powerPreference?: GPUPowerPreference;
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: GPUAdapter;
  adapterInfo: AdapterDescription;
  features: string[];
  limits: Record<string, number>;
  runtime: 'node' | 'browser';
}

export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter found (${detail}). ` +
        'On Debian/Ubuntu without a GPU run `bash tools/setup.sh`, which installs a Vulkan software driver ' +
        "Dawn accepts (Debian 12: mesa-vulkan-drivers from bookworm-backports, Mesa >= 24). " +
        'With a GPU, install its Vulkan driver and libvulkan1. In a browser, enable WebGPU ' +
        '(Chromium: --enable-unsafe-webgpu on Linux).',
    );
    this.name = 'NoAdapterError';
  }
}

interface NodeWebGPU {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

async function nodeGPU(options: string[]): Promise<GPU> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp'; // Mesa complains without it
  let mod: NodeWebGPU;
  try {
    // A variable specifier keeps browser bundlers from trying to resolve the native module.
    const name = 'webgpu';
    mod = (await import(name)) as NodeWebGPU;
  } catch (e) {
    throw new NoAdapterError(`the npm package 'webgpu' could not be loaded: ${(e as Error).message}`);
  }
  Object.assign(globalThis, mod.globals);
  return mod.create(options);
}

function describe(info: GPUAdapterInfo): AdapterDescription {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const device = info.device ?? '';
  const description = info.description ?? '';
  const text = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  const isSoftware =
    /llvmpipe|lavapipe|swiftshader|software/.test(text) || architecture.toLowerCase() === 'software';
  return { vendor, architecture, device, description, isSoftware };
}

export function adapterString(d: AdapterDescription): string {
  const parts = [d.vendor, d.architecture, d.device, d.description].filter((s) => s.length > 0);
  return parts.join(' / ') || 'unknown adapter';
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupStorageSize',
  'maxUniformBufferBindingSize',
  'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
  'maxBindGroups',
  'maxDynamicUniformBuffersPerPipelineLayout',
] as const;

/** The limits requested above their defaults (see acquireDevice). */
const REQUESTED_LIMITS = ['maxStorageBufferBindingSize', 'maxBufferSize'] as const;

// Dawn's instance (the GPU object) must outlive every device made from it: if it is garbage
// collected, Dawn's event processing runs on a freed instance and crashes the process at random.
const liveInstances: GPU[] = [];

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  let gpu: GPU | undefined;
  let runtime: 'node' | 'browser';
  if (typeof navigator !== 'undefined' && (navigator as Navigator).gpu && !isNode()) {
    gpu = (navigator as Navigator).gpu;
    runtime = 'browser';
  } else if (isNode()) {
    gpu = await nodeGPU(opts.dawnOptions ?? []);
    runtime = 'node';
  } else {
    throw new NoAdapterError('this browser does not expose navigator.gpu');
  }
  liveInstances.push(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');

  // Ask for the adapter's buffer sizes (GPUs bind more than the default 128 MiB; kernels check
  // the real values) but keep every limit that shapes a kernel at its WebGPU default (8 storage
  // buffers per stage, 256 invocations, 16 KiB of workgroup memory): what passes the tests on
  // lavapipe, which offers more, then also runs in a browser.
  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups', 'shader-f16'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (device.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') limits[name] = v;
  }
  return {
    device,
    adapter,
    adapterInfo: describe(adapter.info),
    features: [...device.features].map(String).sort(),
    limits,
    runtime,
  };
}
