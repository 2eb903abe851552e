-- migrate:up
-- The W3C trace context (traceparent, tracestate) current when the delivery was written: its send, its email's
-- Traceparent header and the events it publishes join the trace of what caused it (shared/tracing.py).
ALTER TABLE deliveries ADD COLUMN trace_context jsonb;

-- migrate:down
ALTER TABLE deliveries DROP COLUMN trace_context;
