// A one-line progress indicator on stderr, only when stderr is a terminal: piped or redirected output (CI, `| jq`)
// gets none, so logs stay clean. Redrawn at most every 100 ms, cleared when done.

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): boolean;
}

export interface Progress {
  update(text: string): void;
  done(): void;
}

const SILENT: Progress = { update: () => undefined, done: () => undefined };

export function progressOn(stream: ProgressStream, prefix: string, now: () => number = Date.now): Progress {
  if (stream.isTTY !== true) return SILENT;
  let last = 0;
  let shown = false;
  return {
    update(text) {
      const t = now();
      if (shown && t - last < 100) return;
      last = t;
      shown = true;
      // \r and "erase line": the line is rewritten in place.
      stream.write(`\r\u001b[2K${prefix}: ${text}`);
    },
    done() {
      if (shown) stream.write('\r\u001b[2K');
      shown = false;
    },
  };
}
