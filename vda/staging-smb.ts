/**
 * A component source on an SMB share (`smb://[domain;]user@server[:port]/share/dir`), read with the
 * CE's own SMB 3 client (network/smb): one session for all files, each file a ByteSource. Credentials
 * come from the job (in memory) or the client's usual sources (CE_SMB_PASSWORD, credentials file);
 * they never reach logs or errors (the URL display form has none).
 */
import { CeError } from '../core/errors.js';
import type { ByteSource } from '../disk/types.js';
import { connectSmb, type SmbConnectOptions } from '../network/smb/api.js';
import type { SmbClient } from '../network/smb/client.js';
import { Access, CreateOptions, Disposition, ShareAccess } from '../network/smb/packets/constants.js';
import { SmbSource } from '../network/smb/source.js';
import { parseSmbUrl, type SmbUrl } from '../network/smb/url.js';
import type { ComponentSource } from './staging.js';

export class SmbComponentSource implements ComponentSource {
  private client?: SmbClient;
  private readonly url: SmbUrl;

  constructor(url: string, private readonly opts: SmbConnectOptions = {}) {
    this.url = parseSmbUrl(url);
  }

  get name(): string {
    return this.url.display;
  }

  private async connect(): Promise<SmbClient> {
    this.client ??= (await connectSmb(this.url, this.opts)).client;
    return this.client;
  }

  async open(file: string): Promise<ByteSource> {
    // The same plain-name rule as the local source: no separators, no traversal.
    // eslint-disable-next-line no-control-regex
    if (!file || /[\\/:*?"<>|\x00-\x1f]/.test(file) || /^\.+$/.test(file)) {
      throw new CeError('COMPONENT_MANIFEST_INVALID', `"${file}" is not a plain file name.`, { status: 422 });
    }
    const client = await this.connect();
    const path = this.url.path ? `${this.url.path}\\${file}` : file;
    try {
      const handle = await client.open(path, {
        access: Access.FILE_READ_DATA | Access.FILE_READ_ATTRIBUTES | Access.SYNCHRONIZE,
        disposition: Disposition.OPEN,
        options: CreateOptions.NON_DIRECTORY_FILE,
        share: ShareAccess.READ,
      });
      return new SmbSource(`${this.url.display.replace(/\/$/, '')}/${file}`, handle.info.endOfFile, client, handle, false);
    } catch (e) {
      if (e instanceof CeError && e.code === 'SMB_NOT_FOUND') {
        throw new CeError('COMPONENT_SOURCE_MISSING', `The component source ${this.url.display} has no ${file}.`, {
          status: 422,
          hint: `Put ${file} (and its sha256 in manifest.json) into the component share, or drop the option that needs it.`,
          details: { file },
        });
      }
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.client?.disconnect();
    this.client = undefined;
  }
}
