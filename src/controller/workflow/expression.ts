/**
 * The part of Chaos Mesh's expr language a conditionalBranches expression may use after a StatusCheck step:
 * `==`, `!=`, `&&`, `||`, `!`, parentheses, string literals, `true`, `false` and the variable `result`.
 * Parsed once, before anything runs, so a bad expression fails the workflow instead of a step halfway.
 */

export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

type Token =
  | { kind: 'op'; text: '==' | '!=' | '&&' | '||' | '!' | '(' | ')' }
  | { kind: 'string'; value: string }
  | { kind: 'bool'; value: boolean }
  | { kind: 'name'; text: string };

export type Expression =
  | { kind: 'literal'; value: string | boolean }
  | { kind: 'variable'; name: 'result' }
  | { kind: 'not'; operand: Expression }
  | { kind: 'binary'; op: '==' | '!=' | '&&' | '||'; left: Expression; right: Expression };

const OPERATORS = ['==', '!=', '&&', '||', '!', '(', ')'] as const;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] ?? '';
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op !== undefined) {
      tokens.push({ kind: 'op', text: op });
      i += op.length;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError(`unterminated string starting at column ${i + 1}`);
      tokens.push({ kind: 'string', value: text.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))?.[0];
    if (word === undefined) throw new ExpressionError(`unexpected ${JSON.stringify(c)} at column ${i + 1}`);
    if (word === 'true' || word === 'false') tokens.push({ kind: 'bool', value: word === 'true' });
    else tokens.push({ kind: 'name', text: word });
    i += word.length;
  }
  return tokens;
}

/** Precedence climbing, lowest first: `||`, `&&`, `==`/`!=`, `!`, atoms. */
export function parseExpression(text: string): Expression {
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token | undefined => tokens[at];
  const isOp = (t: Token | undefined, op: string): boolean => t?.kind === 'op' && t.text === op;

  function binary(next: () => Expression, ops: readonly ('==' | '!=' | '&&' | '||')[]): () => Expression {
    return () => {
      let left = next();
      for (let t = peek(); t?.kind === 'op' && (ops as readonly string[]).includes(t.text); t = peek()) {
        at += 1;
        left = { kind: 'binary', op: t.text as '==' | '!=' | '&&' | '||', left, right: next() };
      }
      return left;
    };
  }
  function unary(): Expression {
    if (isOp(peek(), '!')) {
      at += 1;
      return { kind: 'not', operand: unary() };
    }
    return atom();
  }
  function atom(): Expression {
    const t = peek();
    at += 1;
    if (t === undefined) throw new ExpressionError('the expression ends too early');
    if (t.kind === 'string' || t.kind === 'bool') return { kind: 'literal', value: t.value };
    if (t.kind === 'name') {
      if (t.text !== 'result') throw new ExpressionError(`unknown name ${t.text}: after a StatusCheck, an expression reads result ("Success" or "Failure")`);
      return { kind: 'variable', name: 'result' };
    }
    if (t.text === '(') {
      const inner = or();
      if (!isOp(peek(), ')')) throw new ExpressionError('a ( is not closed');
      at += 1;
      return inner;
    }
    throw new ExpressionError(`unexpected ${t.text}`);
  }
  const equality = binary(unary, ['==', '!=']);
  const and = binary(equality, ['&&']);
  const or = binary(and, ['||']);

  if (tokens.length === 0) return { kind: 'literal', value: true };
  const expression = or();
  const rest = peek();
  if (rest !== undefined) throw new ExpressionError(`unexpected ${rest.kind === 'op' ? rest.text : rest.kind === 'name' ? rest.text : JSON.stringify(rest.value)} after a complete expression`);
  return expression;
}

function value(expression: Expression, result: string): string | boolean {
  switch (expression.kind) {
    case 'literal': return expression.value;
    case 'variable': return result;
    case 'not': return !truth(expression.operand, result);
    case 'binary':
      if (expression.op === '&&') return truth(expression.left, result) && truth(expression.right, result);
      if (expression.op === '||') return truth(expression.left, result) || truth(expression.right, result);
      return (value(expression.left, result) === value(expression.right, result)) === (expression.op === '==');
  }
}

function truth(expression: Expression, result: string): boolean {
  const v = value(expression, result);
  if (typeof v !== 'boolean') throw new ExpressionError(`${JSON.stringify(v)} is a string where a condition (true or false) is needed`);
  return v;
}

/** Whether the expression holds for the StatusCheck's result. */
export function evaluateExpression(expression: Expression, result: 'Success' | 'Failure'): boolean {
  return truth(expression, result);
}

/**
 * Parses and type-checks: an expression that would need a string as a condition fails now, for either result.
 */
export function checkExpression(text: string): Expression {
  const expression = parseExpression(text);
  evaluateExpression(expression, 'Success');
  evaluateExpression(expression, 'Failure');
  return expression;
}
