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
