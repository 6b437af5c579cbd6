// A stable colour per student (or container) for merged views: a hue from a
// hash of the name, at a lightness readable on both themes.
export function ownerColour(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  const hue = (h >>> 0) % 360;
  return `hsl(${hue} 70% 50%)`;
}
