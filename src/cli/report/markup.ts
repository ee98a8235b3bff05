/**
 * HTML built so that text cannot become markup: the `html` tag escapes every interpolated value unless it is
 * Markup made by `html` itself. Experiment names, target messages and Event text are written by users and by
 * other programs, so escaping is the default, not something each call site has to remember.
 */

/** A piece of HTML that is safe to insert as it is: made by `html`, or directly only from this code's own constants (the style sheet). */
export class Markup {
  readonly html: string;
  constructor(html: string) {
    this.html = html;
  }
}

/** What may be interpolated: text (escaped), numbers, Markup (as is), lists of these, and nothing (undefined, null, false). */
export type Part = Markup | string | number | undefined | null | false | readonly Part[];

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' };

/** Text made safe for an HTML element's content and for a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(part: Part): string {
  if (part instanceof Markup) return part.html;
  if (part === undefined || part === null || part === false) return '';
  if (typeof part === 'number') return String(part);
  if (typeof part === 'string') return escapeHtml(part);
  return part.map(render).join('');
}

export function html(strings: TemplateStringsArray, ...parts: readonly Part[]): Markup {
  let out = strings[0] ?? '';
  parts.forEach((part, i) => {
    out += render(part) + (strings[i + 1] ?? '');
  });
  return new Markup(out);
}
