/**
 * INI inventory values as Ansible reads them: `ast.literal_eval` of the text (Python strings, numbers,
 * True/False/None, lists, tuples, dicts, sets), and the text itself, unchanged, when it is not a
 * Python literal (ansible/plugins/inventory/ini.py `_parse_value`). So `6380` is a number,
 * `"6380"` the string 6380, `["300 1"]` a list, and `pa\ss"wo"rd` or `-o ProxyCommand="ssh -W %h:%p x"`
 * stay exactly as written. Numbers JavaScript cannot hold exactly (and complex or bytes literals) are
 * kept as their text, which is what templating them would give.
 */

class NotLiteral extends Error {}

const ESCAPES: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };
const NUMBER = /^(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*)?\.?(?:\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?)/;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  private ws(): void {
    while (this.i < this.s.length && /[ \t]/.test(this.s[this.i])) this.i++;
  }

  /** The next character; a `#` outside a string starts a comment, which ends the text, as in Python. */
  private peek(): string {
    this.ws();
    const c = this.s[this.i] ?? "";
    return c === "#" ? "" : c;
  }

  private expect(c: string): void {
    if (this.peek() !== c) throw new NotLiteral();
    this.i++;
  }

  /** The whole text: one value, or a bare tuple (`1, 2`). */
  top(): unknown {
    const first = this.value();
    if (this.peek() !== ",") return this.end(first);
    const items = [first];
    while (this.peek() === ",") {
      this.i++;
      if (this.peek() === "") break;
      items.push(this.value());
    }
    return this.end(items);
  }

  private end<T>(v: T): T {
    if (this.peek() !== "") throw new NotLiteral();
    return v;
  }

  private value(): unknown {
    const c = this.peek();
    if (c === "[") return this.sequence("[", "]");
    if (c === "(") return this.sequence("(", ")");
    if (c === "{") return this.braces();
    if (c === "-" || c === "+") {
      this.i++;
      const n = this.number();
      return c === "-" ? (typeof n === "number" ? -n : `-${n}`) : n;
    }
    if (/[0-9.]/.test(c)) return this.number();
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.s.slice(this.i))?.[0] ?? "";
    if (word === "True" || word === "False" || word === "None") {
      this.i += word.length;
      return word === "None" ? null : word === "True";
    }
    if (/^[rRuU]?$/.test(word)) return this.strings();
    throw new NotLiteral();
  }

  /** Adjacent string literals concatenate, as in Python. */
  private strings(): string {
    let out = "";
    do out += this.string();
    while (/^[rRuU]?['"]/.test(this.s.slice(this.i).replace(/^[ \t]+/, "")));
    return out;
  }

  private string(): string {
    this.ws();
    let raw = false;
    if (/[rRuU]/.test(this.s[this.i])) raw = /[rR]/.test(this.s[this.i++]);
    const q = this.s[this.i];
    if (q !== "'" && q !== '"') throw new NotLiteral();
    const delim = this.s.startsWith(q.repeat(3), this.i) ? q.repeat(3) : q;
    this.i += delim.length;
    let out = "";
    for (;;) {
      if (this.i >= this.s.length) throw new NotLiteral();
      if (this.s.startsWith(delim, this.i)) {
        this.i += delim.length;
        return out;
      }
      const ch = this.s[this.i++];
      if (ch !== "\\") {
        out += ch;
        continue;
      }
      const e = this.s[this.i++] ?? "";
      if (raw) out += `\\${e}`;
      else if (e in ESCAPES) out += ESCAPES[e];
      else if (/[0-7]/.test(e)) {
        const oct = /^[0-7]{1,3}/.exec(this.s.slice(this.i - 1))![0];
        this.i += oct.length - 1;
        out += String.fromCodePoint(parseInt(oct, 8));
      } else if (e === "x" || e === "u" || e === "U") {
        const len = { x: 2, u: 4, U: 8 }[e];
        const hex = this.s.slice(this.i, this.i + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw new NotLiteral();
        this.i += len;
        out += String.fromCodePoint(parseInt(hex, 16));
      } else if (e === "N") throw new NotLiteral();
      else out += `\\${e}`;
    }
  }

  private number(): number | string {
    this.ws();
    const text = NUMBER.exec(this.s.slice(this.i))?.[0] ?? "";
    if (!/\d/.test(text)) throw new NotLiteral();
    this.i += text.length;
    if (/^[jJ]/.test(this.s.slice(this.i))) throw new NotLiteral();
    const digits = text.replace(/_/g, "");
    const float = /^\d*\.|e/i.test(digits) && !/^0[xob]/i.test(digits);
    // Python 3 refuses a decimal integer with a leading zero (007): not a literal.
    if (!float && /^0\d/.test(digits) && /[1-9]/.test(digits)) throw new NotLiteral();
    const n = float ? Number(digits) : Number(/^0[ob]/i.test(digits) ? parseInt(digits.slice(2), /^0o/i.test(digits) ? 8 : 2) : digits);
    if (!float && !Number.isSafeInteger(n)) return String(BigInt(digits));
    return n;
  }

  private sequence(open: string, close: string): unknown[] {
    this.expect(open);
    const items: unknown[] = [];
    let single = open === "(";
    while (this.peek() !== close) {
      items.push(this.value());
      if (this.peek() !== ",") break;
      this.i++;
      single = false;
    }
    this.expect(close);
    // `(x)` is x in Python, not a tuple.
    return single && items.length === 1 ? (items[0] as unknown[]) : items;
  }

  /** `{}` a dict, `{k: v, ...}` a dict, `{a, b}` a set (a list here). */
  private braces(): unknown {
    this.expect("{");
    if (this.peek() === "}") {
      this.i++;
      return {};
    }
    const first = this.value();
    if (this.peek() !== ":") {
      const items = [first];
      while (this.peek() === ",") {
        this.i++;
        if (this.peek() === "}") break;
        items.push(this.value());
      }
      this.expect("}");
      return items;
    }
    const out: Record<string, unknown> = {};
    let key = first;
    for (;;) {
      this.expect(":");
      if (key !== null && typeof key === "object") throw new NotLiteral();
      out[String(key)] = this.value();
      if (this.peek() !== ",") break;
      this.i++;
      if (this.peek() === "}") break;
      key = this.value();
    }
    this.expect("}");
    return out;
  }
}

/** What Ansible makes of an INI value: the Python literal it spells, else the text unchanged. */
export function iniValue(text: string): unknown {
  try {
    return new Parser(text).top();
  } catch (e) {
    if (e instanceof NotLiteral) return text;
    throw e;
  }
}
