/**
 * Markdown a model wrote (the plan, the answer fallback's reply, VLM replies), rendered with react-markdown
 * (CommonMark): lists, emphasis, headings, code. Safe by construction: raw HTML in the text is dropped
 * (`skipHtml`), URLs go through react-markdown's `defaultUrlTransform` (no `javascript:` and the like), images
 * are never fetched (their alt text is shown instead), and only http(s) links become links, opening outside
 * the workbench (a new tab in the browser; Electron's window handler hands https links to the system browser).
 */
import ReactMarkdown, { type Components } from 'react-markdown';

const EXTERNAL = /^https?:\/\//i;

const COMPONENTS: Components = {
  a: ({ href, children }) =>
    href && EXTERNAL.test(href) ? (
      <a href={href} target="_blank" rel="noopener noreferrer">
        {children}
      </a>
    ) : (
      <span className="md-link">{children}</span>
    ),
  // A model's markdown image would be fetched from wherever it points: show what it names instead.
  img: ({ alt }) => <span className="md-image muted">[image{alt ? `: ${alt}` : ''}]</span>,
};

/** `text` rendered as markdown in a `div.markdown` labelled `label` (for tests and screen readers). */
export function Markdown({ text, label, className }: { text: string; label: string; className?: string }) {
  return (
    <div className={`markdown ${className ?? ''}`} aria-label={label}>
      <ReactMarkdown skipHtml components={COMPONENTS}>
        {text}
      </ReactMarkdown>
    </div>
  );
}
