import { describe, expect, it } from 'vitest';
import * as E from '../../src/index.js';

describe('the device', () => {
  it('keeps the limits that shape kernels at the portable defaults, whatever the adapter offers', () => {
    // lavapipe offers 1024 invocations, 16 storage buffers and 32 KiB of workgroup memory; a kernel
    // that relied on them would pass here and fail in a browser.
    const l = E.runtime().limits;
    expect(l.maxComputeInvocationsPerWorkgroup).toBeLessThanOrEqual(256);
    expect(l.maxStorageBuffersPerShaderStage).toBeLessThanOrEqual(10);
    expect(l.maxComputeWorkgroupStorageSize).toBeLessThanOrEqual(16384);
    expect(l.maxComputeWorkgroupSizeX).toBeLessThanOrEqual(256);
    // Buffer sizes are the adapter's: at least the defaults.
    expect(l.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 1024 * 1024);
  });
});

describe('kernel parameters', () => {
  it('refuse values that do not fit their u32/i32 slot instead of wrapping them', async () => {
    const { Params } = await import('../../kernels/runtime.js');
    expect(Array.from(new Params().u(0, 2 ** 32 - 1).i(-5).build().slice(0, 3))).toEqual([0, 2 ** 32 - 1, 2 ** 32 - 5]);
    expect(() => new Params().u(2 ** 32).build()).toThrow(/kernel parameter 0: 4294967296 is not a u32/);
    expect(() => new Params().u(-1).build()).toThrow(/is not a u32/);
    expect(() => new Params().u(1.5).build()).toThrow(/is not a u32/);
    expect(() => new Params().i(2 ** 31).build()).toThrow(/is not an i32/);
  });
});
