/**
 * Page-aligned buffers for bulk I/O.
 *
 * Why: Node's Buffer.alloc*() and `new ArrayBuffer()` memory comes from malloc, which puts large
 * blocks 16 bytes past a page boundary. The kernel copies between the page cache and the user
 * buffer (pread/pwrite) with `rep movsb`, which is about 3× slower on a misaligned buffer: on a
 * 2 GiB raw→vhd-fixed conversion (1 GiB of data) the copies took 1.5 s of CPU instead of 0.5 s.
 * A WebAssembly.Memory is mmap'd, so its start is page-aligned: buffers are cut out of one at
 * multiples of 4 KiB. Its pages are zero and only count once touched (RSS stays what is used).
 */
// The global exists in Node; this project's TypeScript libs (no DOM) do not declare it.
declare const WebAssembly: { Memory: new (d: { initial: number; maximum?: number }) => { buffer: ArrayBuffer } };

const PAGE = 4096;
const WASM_PAGE = 65536;
/** The mappings handed out here: their start is page-aligned (see isPageAligned). */
const mappings = new WeakSet<ArrayBuffer>();

/**
 * Whether `buf` starts on a page boundary in memory (a buffer, or a view at a 4 KiB multiple, of
 * these mappings). JavaScript cannot see addresses, so only our own mappings are known to be.
 */
export function isPageAligned(buf: Buffer): boolean {
  return buf.byteOffset % PAGE === 0 && mappings.has(buf.buffer as ArrayBuffer);
}

/** `count` page-aligned buffers of `size` bytes, sharing one mapping (one allocation). */
export function alignedBuffers(size: number, count: number): Buffer[] {
  if (size <= 0 || count <= 0) return [];
  const stride = Math.ceil(size / PAGE) * PAGE;
  const pages = Math.ceil((stride * count) / WASM_PAGE);
  let ab: ArrayBuffer;
  try {
    ab = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
    mappings.add(ab);
  } catch {
    // No WebAssembly (or no address space for it): plain memory still works, only slower.
    return Array.from({ length: count }, () => Buffer.allocUnsafeSlow(size));
  }
  return Array.from({ length: count }, (_, i) => Buffer.from(ab, i * stride, size));
}

/** One page-aligned buffer of `size` bytes (zero-filled). */
export function alignedBuffer(size: number): Buffer {
  return alignedBuffers(size, 1)[0] ?? Buffer.alloc(0);
}

/**
 * Reused page-aligned buffers of one size, allocated `batch` at a time. `max` bounds the free
 * list: a release beyond it lets the buffer go. Only buffers of this pool (or views starting
 * at one) are taken back; anything else is ignored.
 */
export class AlignedPool {
  private readonly free: Buffer[] = [];
  private readonly mine = new WeakMap<ArrayBuffer, Set<number>>();

  constructor(
    readonly size: number,
    private readonly batch = 4,
    private readonly max = 16,
  ) {}

  get(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    const fresh = alignedBuffers(this.size, this.batch);
    for (const f of fresh) {
      const ab = f.buffer as ArrayBuffer;
      let s = this.mine.get(ab);
      if (!s) this.mine.set(ab, (s = new Set()));
      s.add(f.byteOffset);
    }
    const first = fresh.pop()!;
    for (const f of fresh) this.free.push(f);
    return first;
  }

  /** Give a buffer back (it may be a shorter view from its start, e.g. `subarray(0, n)`). */
  put(buf: Buffer): void {
    if (this.free.length >= this.max) return;
    const ab = buf.buffer as ArrayBuffer;
    if (!this.mine.get(ab)?.has(buf.byteOffset)) return;
    this.free.push(buf.length === this.size ? buf : Buffer.from(ab, buf.byteOffset, this.size));
  }
}
