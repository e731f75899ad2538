// CEL for admission/limits.ts: what the webhook hands back is bounded (each warning 512 UTF-8 bytes, 16 warnings
// and 4096 bytes in all, the denial 4096 bytes), and every cut says how much was left out. The policies bound their
// texts the same way, with the same words; test/e2e/policy-options.test.ts compares them with the webhook's. CEL
// strings are sequences of code points, so a cut never goes through a character. PURE.
import { LIMITS } from '../admission/limits.js';
import { type Fresh, bind, str } from './cel.js';

const bytes = (s: string) => `bytes(${s}).size()`;

/** CEL: clipBytes(s, max): at most `max` UTF-8 bytes, the longest prefix that leaves room for "..." when cut. */
export function clipBytesCel(s: string, max: number, f: Fresh): string {
  const room = max - 3;
  return bind(f, s, (x) => {
    // The longest prefix of at most `room` bytes has at most `room` characters: a binary search over [lo, hi]
    // (the prefix of lo characters fits), unrolled, costs a few substrings instead of one per candidate.
    const fits = (n: string) => `${bytes(`${x}.substring(0, ${n})`)} <= ${room}`;
    let search = `[0, ${x}.size() < ${room} ? ${x}.size() : ${room}]`;
    for (let step = 0; step < Math.ceil(Math.log2(room + 1)); step++) {
      search = bind(f, search, (r) => bind(f, `(${r}[0] + ${r}[1] + 1) / 2`, (mid) => `(${fits(mid)} ? [${mid}, ${r}[1]] : [${r}[0], ${mid} - 1])`));
    }
    return `(${bytes(x)} <= ${max} ? ${x} : ${x}.substring(0, ${search}[0]) + '...')`;
  });
}

/** CEL: the sizes in bytes of the first i + 1 items (a list of int `sizes`), with `sep` bytes between them. */
const prefixBytes = (sizes: string, i: string, sep: number) => `(${sizes}.slice(0, ${i} + 1).sum() + ${i} * ${sep})`;

/** CEL: joinWithin(items, separator, max, more): as many items as fit in `max` bytes, then `more(rest)`. */
export function joinWithinCel(items: string, separator: string, max: string, more: (n: string) => string, f: Fresh): string {
  const [i, x] = [f.next('i'), f.next('x')];
  const sep = Buffer.byteLength(separator);
  return bind(f, items, (xs) =>
    bind(f, `${xs}.map(${x}, ${bytes(x)})`, (sizes) =>
      bind(f, `${xs}.size()`, (n) =>
        bind(f, `lists.range(${n}).filter(${i}, ${prefixBytes(sizes, i, sep)} > ${max} - (${i} + 1 < ${n} ? ${sep} + ${bytes(more(n))} : 0))`, (cut) =>
          `(${cut}.size() == 0 ? ${xs}.join(${str(separator)}) : ${cut}[0] == 0 ? ${more(n)} : ` +
          `${xs}.slice(0, ${cut}[0]).join(${str(separator)}) + ${str(separator)} + ${more(`(${n} - ${cut}[0])`)})`))));
}

/** The webhook's words for warnings left out (admission/limits.ts boundWarnings). */
const moreWarnings = (n: string) => `'ghostwire: and ' + string(${n}) + ' more warning' + (${n} == 1 ? '' : 's')`;

/** CEL: boundWarnings(list): each clipped, at most LIMITS.warnings (the "and N more" line included), LIMITS.warningsBytes in all. */
export function boundWarningsCel(list: string, f: Fresh): string {
  const [w, i] = [f.next('w'), f.next('i')];
  return bind(f, `${list}.map(${w}, ${clipBytesCel(w, LIMITS.warningBytes, f)})`, (ws) =>
    bind(f, `${ws}.map(${w}, ${bytes(w)})`, (sizes) =>
      bind(f, `${ws}.size()`, (n) =>
        bind(f, `lists.range(${n}).filter(${i}, !(${i} + 1 < ${LIMITS.warnings} || ${i} == ${n} - 1) || ` +
          `${prefixBytes(sizes, i, 0)} > ${LIMITS.warningsBytes} - (${i} == ${n} - 1 ? 0 : ${bytes(moreWarnings(n))}))`, (cut) =>
          `(${cut}.size() == 0 ? ${ws} : ${ws}.slice(0, ${cut}[0]) + [${moreWarnings(`(${n} - ${cut}[0])`)}])`))));
}
