// CEL for config/image-policy.ts: who may choose the image of the uid-0 NET_ADMIN containers. A workload's
// ghostwire.dev/image is honoured only when it is the defaults' image or the defaults' allowedImages admits it;
// otherwise it is a problem (deny mode refuses, warn mode falls back to the defaults' image), as the webhook does.
// PURE.
import { ALLOWED_IMAGES_KEY, allowedImagesText, parseAllowedImages } from '../config/image-policy.js';
import { OPTION_BY_KEY } from '../config/options.js';
import { type Fresh, bind, bindBool, str, trimmed } from './cel.js';
import { allowedText, ruleFor } from './option-rules.js';
import { type Variable, v } from './subject-cel.js';

const IMAGE = ruleFor(OPTION_BY_KEY.get('image')!);
const MARK = '\u27e6m\u27e7';

/** CEL bool: entry `e` admits image `i` (the same text; a prefix ending in "/"; the repository and a tag or digest). */
function admits(e: string, i: string, f: Fresh): string {
  return `(${i} == ${e} || (${i}.startsWith(${e}) && (${e}.endsWith('/') || ${bindBool(f, `${i}.substring(${e}.size())`, (r) =>
    `(${r}.startsWith('@') || (${r}.startsWith(':') && !${r}.contains('/')))`)})))`;
}

/** CEL: allowedImagesText() for the defaults' image and the allowed entries, from the function's own words. */
function allowedTextCel(image: string, entries: string): string {
  // The function JSON-quotes the image and each entry; image texts need no escapes, so the quotes around a mark
  // stay in the constant parts and the entries are joined with '", "'.
  const [a, b, c] = allowedImagesText({ image: MARK, allowedImages: [MARK] }).split(MARK).map(str);
  const [x, y] = allowedImagesText({ image: MARK, allowedImages: [] }).split(MARK).map(str);
  return `(${entries}.size() == 0 ? ${x} + ${image} + ${y} : ${a} + ${image} + ${b} + ${entries}.join('", "') + ${c})`;
}

/** The defaults' allowedImages: the entries (trimmed, first occurrence kept) and whether they are valid. */
export function allowedImagesVariables(f: Fresh): Variable[] {
  const raw = `${v('defaultsData')}[${str(ALLOWED_IMAGES_KEY)}]`;
  const [p, i] = [f.next('p'), f.next('i')];
  const entries = bind(f, `${raw}.split(',').map(${p}, ${trimmed(p)})`, (es) => `lists.range(${es}.size()).filter(${i}, !(${es}[${i}] in ${es}.slice(0, ${i}))).map(${i}, ${es}[${i}])`);
  const e = f.next('e');
  return [
    { name: 'allowedImages', expression: `${str(ALLOWED_IMAGES_KEY)} in ${v('defaultsData')} ? ${entries} : []` },
    {
      name: 'allowedImagesValid',
      expression: `${v('allowedImages')}.all(${e}, ${bindBool(f, `${e}.endsWith('/') ? ${e}.substring(0, ${e}.size() - 1) : ${e}`, (b) => `(${b} != '' && ${IMAGE.valid(b, f)})`)})`,
    },
  ];
}

/** Whether the effective image is allowed (after the layers; config/resolve.ts checks it last). */
export function imageVariable(f: Fresh): Variable {
  const e = f.next('e');
  return { name: 'imageOk', expression: `${v('e_image')} == ${v('d_image')} || ${v('allowedImages')}.exists(${e}, ${admits(e, v('e_image'), f)})` };
}

/** The problem item of a refused image (after the cross-field ones, as config/resolve.ts adds it). */
export function imageProblem(item: (k: string, value: string, allowed: string) => string): string {
  return `(${v('imageOk')} ? [] : [${item(str('ghostwire.dev/image'), v('e_image'), allowedTextCel(v('d_image'), v('allowedImages')))}])`;
}

/** The defaults' allowedImages problem (config/defaults.ts parses it with parseAllowedImages). */
export function allowedImagesDefaultsProblem(item: (k: string, value: string, allowed: string) => string): string {
  const raw = `${v('defaultsData')}[${str(ALLOWED_IMAGES_KEY)}]`;
  return `(${str(ALLOWED_IMAGES_KEY)} in ${v('defaultsData')} && !${v('allowedImagesValid')} ? [${item(str(ALLOWED_IMAGES_KEY), raw, str(allowedText(parseAllowedImages, '')))}] : [])`;
}
