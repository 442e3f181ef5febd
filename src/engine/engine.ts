// The process-wide engine: one device, one runtime. `init()` must be awaited once before any
// tensor is created; everything else is synchronous until data is read back.

import { Runtime } from '../../kernels/runtime.js';
import { loadTuning, setTuning } from '../../kernels/tuning.js';
import { acquireDevice, type DeviceOptions } from './device.js';

let current: Runtime | null = null;
let pending: Promise<Runtime> | null = null;

export async function init(opts: DeviceOptions = {}): Promise<Runtime> {
  if (current) return current;
  if (!pending) {
    pending = acquireDevice(opts).then((acq) => {
      current = new Runtime(acq);
      setTuning(loadTuning(acq.adapterInfo));
      return current;
    });
    pending.catch(() => {
      pending = null;
    });
  }
  return pending;
}

export function runtime(): Runtime {
  if (!current) throw new Error('eed-webgpu: call `await init()` before creating tensors');
  return current;
}

export function isInitialized(): boolean {
  return current !== null;
}

/** Releases the device. A later init() acquires a new one. */
export function shutdown(): void {
  current?.destroy();
  current = null;
  pending = null;
}
