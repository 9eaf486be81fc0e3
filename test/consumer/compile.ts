import { dirname } from 'node:path';
import ts from 'typescript';

/** What `tsc -p <config> --listFiles` reports: the files of the program and its diagnostics. */
export interface Compiled {
  /** Every file in the program, as `--listFiles` prints them (real paths). */
  readonly files: string[];
  /** tsc's diagnostics as tsc prints them without a terminal (`file(line,col): error TSnnnn: …`); '' when none. */
  readonly diagnostics: string;
}

/**
 * A declaration file of another package (@types/node, hono…), reached through node_modules: only
 * the unpacked creddy package is ours to vouch for.
 */
function isForeign(fileName: string): boolean {
  return fileName.includes('/node_modules/') && !fileName.includes('/node_modules/creddy/');
}

/**
 * `tsc -p <config>` in this process, with the repo's TypeScript, as the consumer tests ran it in
 * a process of its own: the same compiler reading the same tsconfig, the same diagnostics
 * (pre-emit and emit), and the same emit to disk unless the config says noEmit.
 *
 * Why in process: the two type-checks of the packed project (consumer.test.ts) each started
 * Node, loaded TypeScript, then parsed and bound the same ~100 declaration files (lib, @types/node,
 * hono, the package's own), seconds of CPU apiece. The compiler returned here keeps every
 * declaration file it has parsed, keyed by the settings that shape a parse, so the second program
 * reuses the first one's (TypeScript binds a shared file once, as its language service does for
 * projects with the same settings). Each program still checks everything it would check on its own.
 * Drop the compiler after the file's tests: its cache holds those syntax trees.
 *
 * One difference from tsc: the declarations of other packages (@types/node, hono) and the
 * default lib files are parsed, bound and used to check everything else, but are not themselves
 * type-checked — about three quarters of the CPU of a strict check with skipLibCheck off (measured
 * 8 s → 2 s per program). The package's own declarations, the consumer's files and the examples
 * are checked in full; the TypeScript 7 run beside (consumer.test.ts) checks every file, theirs
 * included, as a consumer's tsc would.
 */
export function createCompiler(): (configPath: string) => Compiled {
  const declarations = new Map<string, ts.SourceFile>();
  return (configPath) => {
    const parsed = ts.getParsedCommandLineOfConfigFile(
      configPath,
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!parsed) throw new Error(`cannot read ${configPath}`);
    const host = ts.createCompilerHost(parsed.options);
    // tsc ran in the project's directory.
    const cwd = dirname(configPath);
    host.getCurrentDirectory = () => cwd;
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, settings, onError, shouldCreate) => {
      if (!fileName.endsWith('.d.ts')) return read(fileName, settings, onError, shouldCreate);
      const s = typeof settings === 'object' ? settings : { languageVersion: settings };
      const key = `${s.languageVersion}|${s.impliedNodeFormat}|${s.jsDocParsingMode}|${fileName}`;
      let file = declarations.get(key);
      if (!file) {
        file = read(fileName, settings, onError, shouldCreate);
        if (file) declarations.set(key, file);
      }
      return file;
    };
    const program = ts.createProgram({
      rootNames: parsed.fileNames,
      options: parsed.options,
      host,
      configFileParsingDiagnostics: ts.getConfigFileParsingDiagnostics(parsed),
      ...(parsed.projectReferences ? { projectReferences: parsed.projectReferences } : {}),
    });
    // What getPreEmitDiagnostics reports, less the type-check of other people's declarations.
    const checked = program.getSourceFiles().filter((file) => !program.isSourceFileDefaultLibrary(file) && !isForeign(file.fileName));
    const diagnostics = [
      ...program.getConfigFileParsingDiagnostics(),
      ...program.getOptionsDiagnostics(),
      ...program.getSyntacticDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...checked.flatMap((file) => program.getSemanticDiagnostics(file)),
      ...program.emit().diagnostics,
    ];
    return {
      files: program.getSourceFiles().map((file) => file.fileName),
      diagnostics: ts.formatDiagnostics(ts.sortAndDeduplicateDiagnostics(diagnostics), {
        getCanonicalFileName: (name) => name,
        getCurrentDirectory: () => cwd,
        getNewLine: () => '\n',
      }),
    };
  };
}
