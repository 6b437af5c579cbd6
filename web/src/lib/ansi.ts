// ANSI escape sequences in log text → styled text segments.
//
// Safety by construction: the output is plain text plus a style made only of
// numbers and a fixed set of class names. Nothing from the log ever becomes
// markup, a URL or a CSS string; React renders segments as text nodes.
// Escape sequences other than SGR (colours) are removed; other control
// characters are shown as their Unicode "control picture" so nothing
// invisible can hide in a line.

export interface Style {
  /** 0-15: a palette class; otherwise an [r, g, b] triple. */
  fg?: number | [number, number, number];
  bg?: number | [number, number, number];
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Segment {
  text: string;
  style: Style;
}

const ESC = '\u001b';

/** xterm's 256-colour palette for indices 16-255. */
function color256(n: number): number | [number, number, number] {
  if (n < 16) return n;
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return [level(Math.floor(i / 36)), level(Math.floor(i / 6) % 6), level(i % 6)];
  }
  const g = 8 + (n - 232) * 10;
  return [g, g, g];
}

const byte = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? 0 : Math.max(0, Math.min(255, Math.trunc(v)));

function applySgr(style: Style, params: number[]): Style {
  const s: Style = { ...style };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) {
      for (const k of Object.keys(s) as (keyof Style)[]) delete s[k];
    } else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) { delete s.bold; delete s.dim; }
    else if (p === 23) delete s.italic;
    else if (p === 24) delete s.underline;
    else if (p === 27) delete s.inverse;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    else if (p === 49) delete s.bg;
    else if (p === 38 || p === 48) {
      const key = p === 38 ? 'fg' : 'bg';
      if (params[i + 1] === 5) {
        s[key] = color256(byte(params[i + 2]));
        i += 2;
      } else if (params[i + 1] === 2) {
        s[key] = [byte(params[i + 2]), byte(params[i + 3]), byte(params[i + 4])];
        i += 4;
      }
    }
  }
  return s;
}

function visibleControls(text: string): string {
  // C0 controls (but tab) and DEL as control pictures (U+2400…); a carriage
  // return keeps only what a terminal would show: the text after the last one.
  const cr = text.lastIndexOf('\r');
  const t = cr >= 0 ? text.slice(cr + 1) : text;
  // eslint-disable-next-line no-control-regex
  return t.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, (c) =>
    String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

/** Splits a log line into styled segments. */
export function parseAnsi(input: string): Segment[] {
  const out: Segment[] = [];
  let style: Style = {};
  let i = 0;
  let textStart = 0;
  const flush = (end: number) => {
    if (end > textStart) {
      const text = visibleControls(input.slice(textStart, end));
      if (text) out.push({ text, style });
    }
  };
  while (i < input.length) {
    if (input[i] !== ESC) {
      i++;
      continue;
    }
    flush(i);
    const next = input[i + 1];
    if (next === '[') {
      // CSI: parameters, then a final byte in @-~.
      let j = i + 2;
      while (j < input.length && !/[@-~]/.test(input[j]!)) j++;
      if (j >= input.length) {
        i = input.length;
      } else {
        if (input[j] === 'm') {
          const body = input.slice(i + 2, j);
          if (/^[\d;:]*$/.test(body)) {
            const params = body === '' ? [] : body.split(/[;:]/).map((x) => (x === '' ? 0 : Number(x)));
            style = applySgr(style, params);
          }
        }
        i = j + 1;
      }
    } else if (next === ']') {
      // OSC (titles, hyperlinks): dropped, up to BEL or ESC \.
      let j = i + 2;
      while (j < input.length && input[j] !== '\u0007' && !(input[j] === ESC && input[j + 1] === '\\')) j++;
      i = j >= input.length ? input.length : input[j] === '\u0007' ? j + 1 : j + 2;
    } else {
      i = Math.min(input.length, i + 2);
    }
    textStart = i;
  }
  flush(input.length);
  return out;
}

/** The text of a line without escape sequences (for search, copy, download). */
export function plainText(input: string): string {
  return parseAnsi(input).map((s) => s.text).join('');
}
