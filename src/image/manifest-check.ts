/**
 * The shape of a demo manifest as read from disk: a manifest is user input (`image compare
 * --manifest DIR`), so a hand-edited or foreign `manifest.json` gets a one-line error naming the
 * field instead of a TypeError further on. Only the fields readers use are checked; paths inside
 * must stay inside the set's folder.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { InputError } from '../base/errors.ts';

const relativeInside = z.string().refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'must be a path inside the demo set');

const manifestImages = z.object({
  images: z
    .array(
      z.object({
        name: z.string(),
        variant: z.enum(['compact', 'dce', 'aligned', 'aligned-aslr']),
        instance: z.number().int().min(0),
        elf: relativeInside,
        objDir: relativeInside,
        libraries: z.array(z.string()),
      }),
    )
    .max(100_000),
});

/** Throw an InputError naming `file` and the first bad field of a manifest's image list. */
export function checkManifestShape(file: string, raw: unknown): void {
  const parsed = manifestImages.safeParse(raw);
  if (parsed.success) return;
  const issue = parsed.error.issues[0];
  throw new InputError(file, `not a valid demo manifest: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}
