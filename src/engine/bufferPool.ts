// GPU buffers pooled by size class. Training allocates the same shapes every step, so after the
// first step nearly every request is served from the free lists and no buffer is created.
//
// Reuse is safe without fences: all work goes through one queue in order, so a buffer released
// while commands that read it are still pending is only written again by commands recorded later.
// (Direct queue writes are the exception; the runtime flushes pending commands before those.)

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers sitting in the free lists. */
  pooledBuffers: number;
  pooledBytes: number;
  /** Every buffer ever created by the pool (a growing number means the pool misses). */
  created: number;
}

const MIN_CLASS = 256;

/** Size classes: powers of two up to 1 MiB, then quarter steps between powers of two (<= 25% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(MIN_CLASS, bytes);
  const p = 2 ** Math.ceil(Math.log2(b));
  if (p <= 1 << 20) return p;
  const quarter = p / 8; // steps of p/8 between p/2 and p
  return Math.ceil(b / quarter) * quarter;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private stats: PoolStats = { liveBuffers: 0, liveBytes: 0, pooledBuffers: 0, pooledBytes: 0, created: 0 };

  constructor(
    private readonly device: GPUDevice,
    /** Free-list bytes above this are destroyed instead of kept. */
    public maxPooledBytes = 2 * 1024 ** 3,
    /**
     * Submits the commands recorded so far (the runtime's flush). A released buffer may still be
     * read by a recorded but unsubmitted command: destroying it first would make the whole batch
     * fail at submit, so this runs before any destroy.
     */
    private readonly submitPending: () => void = () => {},
  ) {}

  acquire(bytes: number): GPUBuffer {
    const cls = sizeClass(bytes);
    const list = this.free.get(cls);
    let buf = list?.pop();
    if (buf) {
      this.stats.pooledBuffers--;
      this.stats.pooledBytes -= cls;
    } else {
      buf = this.device.createBuffer({
        size: cls,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.sizes.set(buf, cls);
      this.stats.created++;
    }
    this.stats.liveBuffers++;
    this.stats.liveBytes += cls;
    return buf;
  }

  release(buf: GPUBuffer): void {
    const cls = this.sizes.get(buf);
    if (cls === undefined) throw new Error('BufferPool.release: buffer does not belong to this pool');
    this.stats.liveBuffers--;
    this.stats.liveBytes -= cls;
    if (this.stats.pooledBytes + cls > this.maxPooledBytes) {
      this.submitPending();
      buf.destroy();
      return;
    }
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buf);
    this.stats.pooledBuffers++;
    this.stats.pooledBytes += cls;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    this.submitPending();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.pooledBuffers = 0;
    this.stats.pooledBytes = 0;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
