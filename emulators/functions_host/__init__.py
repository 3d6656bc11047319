"""Azure Functions host stand-in for the Python v2 programming model (Core Tools cannot install here).

It imports the app's real ``function_app.py``, indexes its functions the way the Python worker does
(``FunctionApp.get_functions()``, once; ``get_raw_bindings()`` is what it reads), reads ``host.json``, and
runs them. Files: ``app_index`` (indexing), ``host_config`` (host.json), ``invoker`` (one invocation:
arguments, ``functionTimeout``, outputs after success, invocation id), ``outputs`` (``func.Out`` and the
``blob``/``queue``/``eventGrid`` writers), ``expressions`` (``%setting%``, ``{name}``, blob paths), one
module per trigger kind (``http_trigger``, ``blob_trigger``, ``queue_trigger``, ``timer_trigger`` +
``ncrontab``), ``server`` (the HTTP surface and ``FunctionsHost``), ``testing`` (an in-process host).

- ``POST /runtime/webhooks/EventGrid?functionName=<name>`` — ``eventGridTrigger``: each event becomes a
  ``func.EventGridEvent`` through azure.functions' own converter (a CloudEvent when it has ``specversion``).
- ``POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>`` — ``blobTrigger`` with
  ``source=EventGrid``: for each ``Microsoft.Storage.BlobCreated`` whose blob matches the binding's ``path``
  (``container/{name}.json``), the blob is read with azure-storage-blob (the ``connection`` app setting,
  empty: ``AzureWebJobsStorage``) and passed as a ``func.InputStream`` made by ``BlobConverter``; the path's
  ``{name}`` parts are binding data for output paths. Other event types and other paths are ignored (202).
  After a successful run a blob receipt (``azure-webjobs-hosts/blobreceipts/<host id>/Host.Functions.<name>/
  <etag>/<container>/<blob>``, host id ``AzureFunctionsWebHost__hostid`` or ``functions-host-local``) is
  written, so the same blob version is not processed twice, as the real host guarantees.
  Both webhooks answer the ``SubscriptionValidation`` handshake and the CloudEvents OPTIONS exchange; any
  failed invocation answers 500 (else 202), so Event Grid retries.
- ``/<routePrefix>/<route>`` (``api`` unless host.json ``extensions.http.routePrefix``) — ``httpTrigger``:
  route templates with ``{name}``, ``{name:int}`` (int, long, bool, guid, alpha, double), ``{name?}``,
  ``{*rest}`` into ``route_params``; ``methods``; ``authLevel`` anonymous / function (a function key or
  the master key) / admin (master key only), as ``x-functions-key`` or ``code``; 401 otherwise.
- ``queueTrigger`` — a poller per function (azure-storage-queue, the ``connection`` setting): messages
  as ``func.QueueMessage`` (id, dequeue_count, times, pop receipt); deleted after success; after a failure
  or timeout visible again after ``extensions.queues.visibilityTimeout``; after ``maxDequeueCount``
  attempts (host.json, default 5) moved to ``<queue>-poison``. Messages are base64 unless
  ``messageEncoding`` is ``none``; one that is not valid base64 goes to the poison queue at once.
  Empty polls back off from 100 ms to ``maxPollingInterval``.
- ``timerTrigger`` — six-field NCRONTAB (``ncrontab.py``: ``*``, lists, ranges, steps, month and day
  names; day and day-of-week must both match, as NCrontab does), ``runOnStartup``, ``func.TimerRequest``
  (``past_due``, ``schedule_status``); UTC unless ``WEBSITE_TIME_ZONE``.
- Output bindings: ``blob`` (``path`` with binding expressions; container created if missing),
  ``queue`` (base64 like the Storage extension 5.x; queue created if missing), ``eventGrid``
  (``topicEndpointUri`` + ``topicKeySetting`` app settings; published with azure-eventgrid's client, so
  the Event Grid stand-in's ``api-version`` and ``aeg-sas-key`` are what it sees), ``$return``. The function
  gets a ``func.Out`` per binding; values are checked by azure.functions' own output converters and
  written only after the function returned successfully (nothing on failure or timeout). A failed write
  fails the invocation.
- ``functionTimeout`` (host.json ``hh:mm:ss``, ``-1`` none; default 5 min) fails an invocation that runs
  longer: 500 for HTTP and webhooks, a retry for a queue message.
- Logs: ``Executing``/``Executed 'Functions.<name>' (…, Id=<invocation id>)``; every record logged during
  an invocation (the function's own too) carries the id (``[%(invocation_id)s]`` in the process format).
  A function with a ``context`` parameter gets a ``func.Context`` with ``invocation_id``.
- ``GET /admin/host/status`` — ``{"state": "Running"}`` once the app is indexed.

Settings are the process environment (``local.settings.json`` ``Values`` loaded into it) overlaid by
``create_app(settings=…)``; keys come from ``FUNCTIONS_HOST_KEYS`` (function keys, comma-separated) and
``FUNCTIONS_HOST_MASTER_KEY``.

LIMITATIONS:
- Triggers: only the five above; other triggers and every input binding (``blob_input`` …) fail loudly at
  indexing (``IndexingError``). ``eventGrid`` output with ``connection`` (identity) is not supported.
- A timed-out function cannot be killed (Python threads): its result and outputs are discarded, but its
  thread runs on until it returns; the real host restarts the worker process instead.
- Blob trigger: runs in the webhook request and answers 500 on failure (Event Grid retries); no
  ``webjobs-blobtrigger-poison`` queue. Blob receipts are checked before and written after a successful
  run without the host's lease, so two *concurrent* deliveries of one blob version may both run (a later
  re-delivery is skipped). Polling blob triggers (no ``source=EventGrid``) are not run.
- Queue trigger: one message at a time per function (no ``batchSize``/``newBatchThreshold`` concurrency);
  the processing visibility is a fixed max(10 min, functionTimeout + 1 min), not renewed;
  ``maxPollingInterval`` defaults to 2 s (Azure: 1 min). The queue is not created by the host.
- Timer: no schedule monitor (``useMonitor``: status is in memory, so missed runs during downtime are not
  caught up), no singleton lock across hosts, no TimeSpan (``hh:mm:ss``) schedules.
- Webhooks (``/runtime/webhooks/…``) need no system key (as Core Tools locally); HTTP functions do.
- No ``func.HttpResponse`` streaming, no ``AsgiFunctionApp``/``WsgiFunctionApp``, no Durable Functions,
  no retry policies (``@app.retry``), no ``extensions.http`` settings but ``routePrefix``.
"""
