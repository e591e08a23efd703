/**
 * The one rule for which recorded cells a replay re-executes (`spatialclaw replay` and the workbench
 * console's restore both call selectReplayCells), and how a replayed cell is compared with its record.
 */
import { describe, expect, it } from 'vitest';
import type { CellResult } from '../../shared/kernel.ts';
import type { RunEvent } from '../../shared/run.ts';
import { cellDifferences, NOT_REPLAYED, type RecordedCell, selectReplayCells } from '../../electron/services/app/replay.ts';

const STATUSES = ['ok', 'error', 'timeout', 'rejected', 'kernel_died'] as const;

function cell(index: number, origin: 'agent' | 'human', status: CellResult['status'], t: string, code = `x${index} = ${index}`): RecordedCell {
  return {
    type: 'cell', t, step: index,
    result: {
      index, origin, code, status, startedAt: t, durationMs: 1, stdout: '', stderr: '', result: null, error: null,
      violations: [], images: [], answer: null, artifacts: [], variables: [], notes: [],
    },
  };
}

const codes = (cells: RecordedCell[]): string[] => cells.map((c) => c.result.code);

describe('selectReplayCells', () => {
  it('replays ok and error cells of both journals, skips rejected, timeout and kernel_died', () => {
    // One agent cell and one console cell of every status, interleaved in time.
    const agent: RunEvent[] = [{ type: 'plan', t: '2025-01-01T00:00:00.000Z', step: 0, text: 'p', error: null }];
    const consoleCells: RunEvent[] = [];
    STATUSES.forEach((status, i) => {
      agent.push(cell(i + 1, 'agent', status, `2025-01-01T00:00:${String(10 + 2 * i).padStart(2, '0')}.000Z`, `agent_${status}`));
      consoleCells.push(cell(100 + i, 'human', status, `2025-01-01T00:00:${String(11 + 2 * i).padStart(2, '0')}.000Z`, `console_${status}`));
    });
    const { replay, skipped } = selectReplayCells(agent, consoleCells);
    expect(codes(replay)).toEqual(['agent_ok', 'console_ok', 'agent_error', 'console_error']);
    expect(codes(skipped)).toEqual(['agent_timeout', 'console_timeout', 'agent_rejected', 'console_rejected', 'agent_kernel_died', 'console_kernel_died']);
    expect(Object.keys(NOT_REPLAYED).sort()).toEqual(['kernel_died', 'rejected', 'timeout']);
  });

  it('orders by time; at equal times the agent journal comes first, then file order', () => {
    const t = '2025-01-01T00:00:05.000Z';
    const agent = [cell(2, 'agent', 'ok', '2025-01-01T00:00:09.000Z', 'late agent'), cell(1, 'agent', 'ok', t, 'agent a'), cell(3, 'agent', 'ok', t, 'agent b')];
    const human = [cell(1, 'human', 'ok', t, 'console a'), cell(2, 'human', 'error', '2025-01-01T00:00:01.000Z', 'early console')];
    expect(codes(selectReplayCells(agent, human).replay)).toEqual(['early console', 'agent a', 'agent b', 'console a', 'late agent']);
  });

  it('ignores events that are not cells and handles empty journals', () => {
    expect(selectReplayCells([], [])).toEqual({ replay: [], skipped: [] });
    const only: RunEvent[] = [{ type: 'termination', t: '2025-01-01T00:00:00.000Z', step: 0, reason: 'answered', detail: null }];
    expect(selectReplayCells(only, []).replay).toEqual([]);
  });
});

describe('cellDifferences', () => {
  it('names status, answer, error and stdout differences', () => {
    const old = cell(1, 'agent', 'ok', 't').result;
    expect(cellDifferences(old, { ...old })).toEqual([]);
    const now: CellResult = { ...old, status: 'error', stdout: 'x', error: { ename: 'NameError', evalue: 'x', traceback: [], lineno: null, line: null }, answer: { answer: 2, type: 'int' } as CellResult['answer'] };
    expect(cellDifferences(old, now)).toEqual(['status ok -> error', 'answer null -> 2', 'error none -> NameError', 'stdout differs']);
  });
});
