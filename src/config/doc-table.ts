// The README's option table, generated from the option table itself (test/unit/readme.test.ts keeps them equal).
import { ANNOTATION_PREFIX, OPTION_LIST } from './options.js';

export function optionTableMarkdown(): string {
  const rows = OPTION_LIST.map((o) => {
    const def = o.format(o.default as never);
    const shown = o.key === 'image' ? 'ghostwire:<version>' : def === '' ? '(empty)' : def;
    return `| \`${ANNOTATION_PREFIX}${o.key}\` | \`${o.key}\` | ${o.env ? `\`${o.env}\`` : '-'} | \`${shown}\` | ${o.description} |`;
  });
  return ['| Annotation | ConfigMap key | Env var | Default | What it does |', '|---|---|---|---|---|', ...rows].join('\n');
}
