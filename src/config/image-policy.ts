// Who may choose the image of ghostwire's injected containers (uid 0, NET_ADMIN): the administrator. A workload's
// ghostwire.dev/image is honoured only when it is the defaults' own image or the defaults document's
// `allowedImages` admits it; an annotation alone can never pick what runs with those privileges.
import { type Parsed, bad, ok, parseImage } from './validate.js';

export const ALLOWED_IMAGES_KEY = 'allowedImages';

const ALLOWED_TEXT =
  'a list of image repositories (e.g. "registry.example/ghostwire": any tag or digest of it) or prefixes ending in "/" (e.g. "registry.example/platform/")';

/** Entries are a repository (or a full reference) or a prefix ending in "/"; each must be a valid image text. */
export function parseAllowedImages(raw: string): Parsed<string[]> {
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const entry = part.trim();
    const body = entry.endsWith('/') ? entry.slice(0, -1) : entry;
    if (body === '' || !parseImage(body).ok) return bad(ALLOWED_TEXT);
    if (!out.includes(entry)) out.push(entry);
  }
  return ok(out);
}

/**
 * Whether one entry admits an image: the same text; a prefix ending in "/"; or the same repository followed by a
 * tag (":" with no "/" after it, so "registry" never admits the host "registry:5000/...") or a digest ("@").
 */
function admits(entry: string, image: string): boolean {
  if (image === entry) return true;
  if (!image.startsWith(entry)) return false;
  if (entry.endsWith('/')) return true;
  const rest = image.slice(entry.length);
  return rest.startsWith('@') || (rest.startsWith(':') && !rest.includes('/'));
}

export function imageAllowed(image: string, policy: { image: string; allowedImages: readonly string[] }): boolean {
  return image === policy.image || policy.allowedImages.some((e) => admits(e, image));
}

/** What a refused image is told is allowed. */
export function allowedImagesText(policy: { image: string; allowedImages: readonly string[] }): string {
  const list = policy.allowedImages.length === 0 ? 'none set' : policy.allowedImages.map((e) => JSON.stringify(e)).join(', ');
  return `the defaults' image ${JSON.stringify(policy.image)}, or an image the administrator allows in the defaults document's ${ALLOWED_IMAGES_KEY} (${list})`;
}
