// A strict little XML reader for the SVG tests (no DOM parser is installed, and the figures use
// only elements, attributes, text and one XML declaration): it throws on anything not
// well-formed (unbalanced or crossed tags, unquoted or duplicate attributes, a raw '<' or a bare
// '&' in text or values) and returns the element tree for the tests to inspect.

export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element, unescaped. */
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const NAME = '[A-Za-z_][\\w:.-]*';
const TAG = new RegExp(`^<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*"[^"]*")*)\\s*(/?)>`);
const ATTR = new RegExp(`(${NAME})\\s*=\\s*"([^"]*)"`, 'g');

function checkEscaped(s: string, where: string): void {
  const rest = s.replace(ENTITY, '');
  if (rest.includes('&')) throw new Error(`xml: a bare '&' in ${where}: ${JSON.stringify(s)}`);
  if (rest.includes('<')) throw new Error(`xml: a raw '<' in ${where}: ${JSON.stringify(s)}`);
}

function unescape(s: string): string {
  return s.replace(ENTITY, (e) => {
    if (e === '&amp;') return '&';
    if (e === '&lt;') return '<';
    if (e === '&gt;') return '>';
    if (e === '&quot;') return '"';
    if (e === '&apos;') return "'";
    return String.fromCodePoint(e[2] === 'x' ? parseInt(e.slice(3, -1), 16) : parseInt(e.slice(2, -1), 10));
  });
}

export function parseXml(doc: string): XmlElement {
  let s = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (s.length) {
    const lt = s.indexOf('<');
    const chunk = lt < 0 ? s : s.slice(0, lt);
    if (chunk.length) {
      if (!stack.length) {
        if (chunk.trim()) throw new Error(`xml: text outside the root element: ${JSON.stringify(chunk.slice(0, 40))}`);
      } else {
        checkEscaped(chunk, `the text of <${stack[stack.length - 1].tag}>`);
        stack[stack.length - 1].text += unescape(chunk);
      }
    }
    if (lt < 0) break;
    s = s.slice(lt);
    const m = TAG.exec(s);
    if (!m) throw new Error(`xml: malformed tag at ${JSON.stringify(s.slice(0, 60))}`);
    const [whole, closing, tag, attrText, selfClosing] = m;
    s = s.slice(whole.length);
    if (closing) {
      if (attrText.trim() || selfClosing) throw new Error(`xml: malformed closing tag ${whole}`);
      const open = stack.pop();
      if (!open || open.tag !== tag) throw new Error(`xml: </${tag}> closes <${open?.tag ?? 'nothing'}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const [, name, value] of attrText.matchAll(ATTR)) {
      if (name in attrs) throw new Error(`xml: duplicate attribute ${name} on <${tag}>`);
      checkEscaped(value, `attribute ${name} of <${tag}>`);
      attrs[name] = unescape(value);
    }
    const el: XmlElement = { tag, attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error(`xml: a second root element <${tag}>`);
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length) throw new Error(`xml: unclosed <${stack[stack.length - 1].tag}>`);
  if (!root) throw new Error('xml: no root element');
  return root;
}

/** Every element of the tree, depth first. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
