/** JSON schemas of where a job reads its disk on the CE: an image file, or a block device. */

/** `{kind: "file" | "device", path}` */
export const localSourceSchema = {
  type: 'object',
  required: ['kind', 'path'],
  additionalProperties: false,
  properties: { kind: { enum: ['file', 'device'] }, path: { type: 'string', minLength: 1 } },
} as const;

/** `{kind: "file", path}` (jobs that take an image file only) */
export const fileSourceSchema = {
  type: 'object',
  required: ['kind', 'path'],
  additionalProperties: false,
  properties: { kind: { const: 'file' }, path: { type: 'string', minLength: 1 } },
} as const;
