/**
 * The header of an opened sample: the question and its choices (the ground truth's and the answer's marked),
 * then the ground truth, the answer and its source, the score with correct / wrong, how the sample ended, and
 * its steps, duration, tokens and model calls. Fields come from {@link sampleSummary} (the recorded result,
 * else the events so far); a field without a value says so rather than vanishing.
 */
import type { SampleResult } from '../../../shared/run.ts';
import { answerSourceWords, sampleSummary } from '../sample-summary.ts';
import type { Timeline } from '../timeline.ts';
import { fmtSeconds, fmtTokens } from './common.tsx';
import './sample-view.css';

const str = (v: string | number | null): string | null => (v === null ? null : String(v));

/** The option letter a choice starts with ("A. 1.2 m" → "A"), or null. */
const letterOf = (choice: string): string | null => /^\s*\(?([A-Za-z])[.):]/.exec(choice)?.[1]?.toUpperCase() ?? null;

/** Whether a value (ground truth or answer) names this choice: its letter, or the whole choice. */
function names(value: string | null, choice: string): boolean {
  if (value === null) return false;
  const v = value.trim().replace(/^\(|\)$/g, '').toUpperCase();
  return v === letterOf(choice) || value.trim() === choice.trim();
}

function Fact({ name, children, testId }: { name: string; children: React.ReactNode; testId: string }) {
  return (
    <div>
      <dt>{name}</dt>
      <dd data-testid={testId}>{children}</dd>
    </div>
  );
}

export function SampleHeader({ tl, result, fallbackTitle }: { tl: Timeline; result: SampleResult | null; fallbackTitle: string }) {
  const s = sampleSummary(tl, result);
  const truth = str(s.groundTruth);
  const answer = str(s.answer);
  const tokens = s.promptTokens + s.completionTokens;
  return (
    <section className="sample-header sample-question" aria-label="Sample summary">
      <h3>{s.question ?? fallbackTitle}</h3>
      {s.choices.length ? (
        <ul className="choices" aria-label="Choices">
          {s.choices.map((c) => {
            const isTruth = names(truth, c);
            const isAnswer = names(answer, c);
            return (
              <li key={c} className={`${isTruth ? 'is-truth' : ''} ${isAnswer ? 'is-answer' : ''}`}>
                {c}
                {isTruth ? <span className="muted small"> ← ground truth</span> : null}
                {isAnswer ? <span className="muted small"> ← answer</span> : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      <dl className="sample-facts">
        <Fact name="Ground truth" testId="header-ground-truth">
          {truth !== null ? <strong>{truth}</strong> : <span className="muted">none given</span>}
        </Fact>
        <Fact name="Answer" testId="header-answer">
          {answer !== null ? (
            <>
              <strong>{answer}</strong>
              {s.answerSource ? <span className="muted"> ({answerSourceWords(s.answerSource)})</span> : null}
            </>
          ) : (
            <span className="muted">{s.termination ? 'none' : 'not yet'}</span>
          )}
        </Fact>
        <Fact name="Score" testId="header-score">
          {s.score !== null ? (
            <>
              {s.score.toFixed(2)}
              {s.scoring ? <span className="muted"> ({s.scoring})</span> : null}{' '}
              <span className={`badge outcome-${s.outcome}`} data-testid="header-outcome">
                {s.outcome}
              </span>
            </>
          ) : (
            <span className="muted">{truth === null ? 'unscored (no ground truth)' : s.termination ? 'not recorded' : 'when it ends'}</span>
          )}
        </Fact>
        <Fact name="Ended" testId="header-termination">
          {s.termination ? (
            <>
              <span className={`badge status-${s.termination}`}>{s.termination}</span>
              {s.detail ? <span className="muted"> {s.detail}</span> : null}
            </>
          ) : (
            <span className="muted">running</span>
          )}
        </Fact>
        <Fact name="Steps" testId="header-steps">
          {s.steps}
        </Fact>
        <Fact name="Duration" testId="header-duration">
          {s.durationS !== null ? fmtSeconds(s.durationS) : '—'}
        </Fact>
        <Fact name="Tokens" testId="header-tokens">
          {fmtTokens(tokens)} <span className="muted">({fmtTokens(s.promptTokens)} prompt + {fmtTokens(s.completionTokens)} completion, {s.modelCalls} model calls)</span>
        </Fact>
        {s.questionType || s.benchmark ? (
          <Fact name="Type" testId="header-type">
            {[s.benchmark, s.questionType].filter(Boolean).join(' · ')}
          </Fact>
        ) : null}
      </dl>
    </section>
  );
}
