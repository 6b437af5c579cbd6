import { describe, expect, it } from 'vitest';
import { parseAnsi, plainText } from '../src/lib/ansi';

describe('parseAnsi', () => {
  it('keeps plain text as one unstyled segment', () => {
    expect(parseAnsi('hello world')).toEqual([{ text: 'hello world', style: {} }]);
  });

  it('applies and resets SGR colours and attributes', () => {
    const segs = parseAnsi('\u001b[1;31mERR\u001b[0m ok \u001b[32mgreen\u001b[39m plain');
    expect(segs).toEqual([
      { text: 'ERR', style: { bold: true, fg: 1 } },
      { text: ' ok ', style: {} },
      { text: 'green', style: { fg: 2 } },
      { text: ' plain', style: {} },
    ]);
  });

  it('understands bright, 256-colour and true-colour forms, clamped to bytes', () => {
    expect(parseAnsi('\u001b[91mx')[0]!.style).toEqual({ fg: 9 });
    expect(parseAnsi('\u001b[38;5;196mx')[0]!.style).toEqual({ fg: [255, 0, 0] });
    expect(parseAnsi('\u001b[48;5;244mx')[0]!.style).toEqual({ bg: [128, 128, 128] });
    expect(parseAnsi('\u001b[38;2;10;20;999mx')[0]!.style).toEqual({ fg: [10, 20, 255] });
  });

  it('never turns log text into markup: an injection attempt stays text', () => {
    const evil = '<img src=x onerror="window.__xss=1"><script>alert(1)</script>';
    const segs = parseAnsi(`\u001b[31m${evil}\u001b[0m`);
    expect(segs).toEqual([{ text: evil, style: { fg: 1 } }]);
    // The style holds only numbers and booleans, never a string from the log.
    for (const s of parseAnsi('\u001b[38;2;1;2;3;4;5m\u001b[38;5;xxmx')) {
      for (const v of Object.values(s.style)) {
        expect(['number', 'boolean', 'object']).toContain(typeof v);
      }
    }
  });

  it('drops other escape sequences, including OSC hyperlinks and titles', () => {
    expect(plainText('a\u001b]8;;http://evil.example\u0007link\u001b]8;;\u0007b')).toBe('alinkb');
    expect(plainText('a\u001b]0;title\u001b\\b')).toBe('ab');
    expect(plainText('a\u001b[2Kb\u001b[10;20Hc')).toBe('abc');
    expect(plainText('unterminated \u001b[31')).toBe('unterminated ');
  });

  it('shows control characters instead of hiding them', () => {
    expect(plainText('a\u0000b\u0007c\u007f')).toBe('a\u2400b\u2407c\u2421');
    expect(plainText('tab\tkept')).toBe('tab\tkept');
  });

  it('keeps what a terminal shows after a carriage return', () => {
    expect(plainText('progress 10%\rprogress 100%')).toBe('progress 100%');
  });
});
