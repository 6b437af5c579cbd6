// Log text as React nodes: ANSI styles as palette classes and clamped
// numbers, the search term marked; never markup from the log.

import type { ReactNode } from 'react';
import type { Segment, Style } from '../lib/ansi';

function styleOf(s: Style): { className: string; style?: React.CSSProperties } {
  const cls: string[] = [];
  const css: React.CSSProperties = {};
  // Inverse video swaps the colours; an unset one stands for the theme's
  // own foreground or background.
  const fg = s.inverse ? (s.bg ?? 'bg') : s.fg;
  const bg = s.inverse ? (s.fg ?? 'fg') : s.bg;
  // Palette colours are classes (themed, contrast-checked); 256-colour and
  // true-colour values are numbers from the parser, never log text.
  const put = (v: number | [number, number, number] | 'fg' | 'bg' | undefined, kind: 'fg' | 'bg') => {
    if (v === undefined) return;
    if (typeof v === 'number' || typeof v === 'string') {
      cls.push(`ansi-${kind}-${v}`);
    } else {
      const color = `rgb(${v[0] | 0}, ${v[1] | 0}, ${v[2] | 0})`;
      if (kind === 'fg') css.color = color;
      else css.backgroundColor = color;
    }
  };
  put(fg, 'fg');
  put(bg, 'bg');
  if (s.bold) cls.push('ansi-bold');
  if (s.dim) cls.push('ansi-dim');
  if (s.italic) cls.push('ansi-italic');
  if (s.underline) cls.push('ansi-underline');
  return { className: cls.join(' '), style: Object.keys(css).length ? css : undefined };
}

/** Text with the search term marked; all as React text nodes. */
function highlight(text: string, needle: string, key: string): ReactNode {
  if (!needle) return text;
  const out: ReactNode[] = [];
  const lower = text.toLowerCase();
  let from = 0;
  let n = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) break;
    if (at > from) out.push(text.slice(from, at));
    out.push(<mark key={`${key}-${n++}`}>{text.slice(at, at + needle.length)}</mark>);
    from = at + needle.length;
  }
  out.push(text.slice(from));
  return out;
}

export function LineText({ segments, needle }: { segments: Segment[]; needle: string }) {
  return (
    <>
      {segments.map((seg, i) => {
        const { className, style } = styleOf(seg.style);
        const body = highlight(seg.text, needle, String(i));
        return className || style ? <span key={i} className={className} style={style}>{body}</span> : <span key={i}>{body}</span>;
      })}
    </>
  );
}
