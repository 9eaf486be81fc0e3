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
    const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
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
