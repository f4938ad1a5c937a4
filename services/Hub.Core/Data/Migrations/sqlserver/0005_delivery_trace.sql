-- The W3C trace context of the change that recorded an event (traceparent, tracestate), so that every try of
-- the delivery, a retry hours later included, joins the trace of the request that caused it.
ALTER TABLE deliveries ADD trace_parent VARCHAR(55) NULL;
ALTER TABLE deliveries ADD trace_state VARCHAR(512) NULL;
-- The same for a user message waiting for the bot: a reply re-driven after a worker died joins the request's trace.
ALTER TABLE messages ADD trace_parent VARCHAR(55) NULL;
