import { spawn } from 'node:child_process';
import type { BenchResources } from './resources.js';

export interface ChildRun {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  wallMs: number;
}

/**
 * Runs a process to completion, registered with `resources` so that an interrupted benchmark
 * kills it; `timeoutMs` bounds it (it is killed and the run fails).
 */
export function runChild(
  resources: BenchResources,
  command: string,
  args: string[],
  options: { timeoutMs: number; stdoutTo?: number | 'ignore' },
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const child = spawn(command, args, {
      stdio: ['ignore', options.stdoutTo ?? 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    resources.adoptProcess(child, `${command} pid ${child.pid}`, async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took longer than ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, exitCode, wallMs: performance.now() - startedAt });
    });
  });
}
