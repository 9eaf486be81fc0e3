/**
 * The built declarations (dist/, what the package ships: package.json "exports" types) as an
 * editor reads them, with the TypeScript compiler API:
 * - every type a public declaration names (a function's parameters and return, an interface's
 *   members, a class's heritage) is exported from the same entry, so a consumer can name it
 *   (`BackendInfo` of `client.backend()` was not);
 * - every TSDoc `{@link X}` in those files resolves to a declaration in scope (a name used only in
 *   TSDoc is dropped from a .d.ts's imports), and none is where TypeScript cannot read it
 *   (`@throws {@link X}` is read as a type expression `{` and a stray `@link` tag).
 * Needs `npm run build` first, as npm test does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');

/** The `types` of each package export, e.g. `./client` → dist/client/index.d.ts. */
function entries(): Array<{ subpath: string; file: string }> {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    exports: Record<string, string | { types?: string }>;
  };
  return Object.entries(manifest.exports).flatMap(([subpath, target]) =>
    typeof target === 'object' && target.types ? [{ subpath, file: join(ROOT, target.types) }] : [],
  );
}

let program: ts.Program;
let checker: ts.TypeChecker;

beforeAll(() => {
  const roots = entries().map((e) => e.file);
  for (const file of roots) if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  program = ts.createProgram(roots, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: [],
    noEmit: true,
  });
  checker = program.getTypeChecker();
});

/** The package's own declaration files the entries reach. */
const ownFiles = (): ts.SourceFile[] => program.getSourceFiles().filter((f) => f.fileName.startsWith(`${DIST}/`));
const where = (node: ts.Node): string => {
  const file = node.getSourceFile();
  return `${relative(ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
};
const resolved = (symbol: ts.Symbol): ts.Symbol => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);

/** Every node of `node`'s subtree, JSDoc included. */
function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node);
  for (const doc of (node as { jsDoc?: ts.JSDoc[] }).jsDoc ?? []) walk(doc, visit);
  ts.forEachChild(
    node,
    (child) => walk(child, visit),
    (children) => {
      for (const child of children) walk(child, visit);
    },
  );
}

describe('the built declarations', () => {
  it('export from each entry every type its public declarations name', () => {
    const missing: string[] = [];
    for (const entry of entries()) {
      const module = checker.getSymbolAtLocation(program.getSourceFile(entry.file)!)!;
      const exported = new Set(checker.getExportsOfModule(module).map(resolved));
      for (const symbol of exported) {
        for (const declaration of symbol.declarations ?? []) {
          if (!declaration.getSourceFile().fileName.startsWith(`${DIST}/`)) continue;
          walk(declaration, (node) => {
            const name = ts.isTypeReferenceNode(node)
              ? node.typeName
              : ts.isExpressionWithTypeArguments(node)
                ? node.expression
                : undefined;
            if (!name) return;
            const used = checker.getSymbolAtLocation(name);
            if (!used) return;
            const target = resolved(used);
            if (target.flags & ts.SymbolFlags.TypeParameter) return;
            const home = target.declarations?.[0]?.getSourceFile().fileName ?? '';
            if (!home.startsWith(`${DIST}/`)) return; // the language's, Node's or hono's
            if (!exported.has(target)) missing.push(`${entry.subpath}: ${target.name} (named by ${symbol.name}, ${where(node)})`);
          });
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('resolve every TSDoc {@link} to a declaration in scope, and have none TypeScript misreads', () => {
    const broken: string[] = [];
    let links = 0;
    for (const file of ownFiles()) {
      walk(file, (node) => {
        if (ts.isJSDocLink(node) || ts.isJSDocLinkCode(node) || ts.isJSDocLinkPlain(node)) {
          links++;
          if (!node.name || !checker.getSymbolAtLocation(node.name)) broken.push(`${where(node)}: {@link ${node.name?.getText() ?? ''}}`);
        }
        // `@throws {@link X}`: the braces open a type expression, and `@link` becomes a tag of its own.
        if (ts.isJSDocUnknownTag(node) && node.tagName.text === 'link') broken.push(`${where(node)}: @link read as a tag`);
      });
    }
    expect(links).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });
});
