/** Placeholder until the disk-formats branch is merged (it replaces this file). */
import { placeholderFormat } from '../placeholder.js';

export const qcow2Format = placeholderFormat('qcow2');
