/** Base of the Disk decorators (read-ahead, zero scan): everything is the inner disk's unless overridden. */
import type { Disk, DiskDescription, LocalLayout } from '../types.js';

export abstract class DiskDecorator implements Disk {
  constructor(readonly inner: Disk) {}

  get format() {
    return this.inner.format;
  }
  get subformat() {
    return this.inner.subformat;
  }
  get virtualSize() {
    return this.inner.virtualSize;
  }
  get blockSize() {
    return this.inner.blockSize;
  }
  get parent() {
    return this.inner.parent;
  }
  get source() {
    return this.inner.source;
  }
  blocks(): AsyncIterable<number> {
    return this.inner.blocks();
  }
  read(offset: number, length: number, buf?: Buffer): Promise<Buffer> {
    return this.inner.read(offset, length, buf);
  }
  /** The bytes are the inner disk's: a subclass that changes them must return undefined. */
  localFile(): LocalLayout | undefined {
    return this.inner.localFile?.();
  }
  dataFilter(): Promise<((offset: number, length: number) => boolean) | undefined> {
    return this.inner.dataFilter?.() ?? Promise.resolve(undefined);
  }
  describe(): DiskDescription {
    return this.inner.describe();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
