"""``queueTrigger``: one poller thread per function reads its Azurite/Azure queue with
azure-storage-queue (the binding's ``connection`` app setting). A message is deleted after success; after a
failure (or ``functionTimeout``) it becomes visible again after host.json's ``visibilityTimeout``, and once
it has been dequeued ``maxDequeueCount`` times it is moved to ``<queue>-poison``. Polling backs off from
100 ms to ``maxPollingInterval`` while the queue is empty. Messages are base64 (``messageEncoding``), as
the Storage extension 5.x reads them; one that is not valid base64 goes straight to the poison queue."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessageInConverter
from azure.storage.queue import QueueClient, QueueMessage

from emulators.functions_host.app_index import IndexedFunction
from emulators.functions_host.expressions import connection_string, resolve_settings
from emulators.functions_host.host_config import HostConfig
from emulators.functions_host.invoker import InvocationFailed, Invoker

log = logging.getLogger("functions_host.queue")
MIN_POLL = 0.1
#: how long a message stays invisible while its invocation runs (the host renews it; we outlast the timeout)
PROCESSING_VISIBILITY = 600


def _iso(value) -> str | None:
    return value.isoformat() if value else None


class QueueListener:
    def __init__(
        self, function: IndexedFunction, invoker: Invoker, config: HostConfig, settings: Mapping[str, str]
    ) -> None:
        self.function = function
        self.invoker = invoker
        self.config = config
        self.queue_name = resolve_settings(function.trigger["queueName"], settings).lower()
        conn = connection_string(function.trigger.get("connection"), settings)
        self.queue = QueueClient.from_connection_string(conn, self.queue_name)
        self.poison = QueueClient.from_connection_string(conn, f"{self.queue_name}-poison")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"queue-{function.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        interval = MIN_POLL
        while not self._stop.is_set():
            try:
                found = self.poll_once()
            except ResourceNotFoundError:
                found = 0  # the queue does not exist (yet)
            except Exception:
                log.exception("queue trigger '%s': polling %s failed", self.function.name, self.queue_name)
                found = 0
            interval = MIN_POLL if found else min(interval * 2, self.config.max_polling_interval)
            if self._stop.wait(0 if found else interval):
                return

    def poll_once(self) -> int:
        timeout = max(PROCESSING_VISIBILITY, int(self.config.function_timeout or 0) + 60)
        messages = list(
            self.queue.receive_messages(messages_per_page=16, visibility_timeout=timeout, max_messages=16)
        )
        for message in messages:
            if self._stop.is_set():
                # not processed: make it visible again at once
                self.queue.update_message(message, pop_receipt=message.pop_receipt, visibility_timeout=0)
                continue
            self._process(message)
        return len(messages)

    def _body(self, message: QueueMessage) -> str | None:
        text = message.content if isinstance(message.content, str) else bytes(message.content).decode()
        if self.config.message_encoding != "base64":
            return text
        try:
            return base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None

    def _process(self, message: QueueMessage) -> None:
        body = self._body(message)
        if body is None:
            log.error(
                "queue trigger '%s': message %s is not base64 (messageEncoding=base64); moving it to %s",
                self.function.name,
                message.id,
                self.poison.queue_name,
            )
            self._to_poison(message)
            return
        metadata = {
            "Id": Datum(message.id, "string"),
            "DequeueCount": Datum(message.dequeue_count, "int"),
            "ExpirationTime": Datum(_iso(message.expires_on), "string"),
            "InsertionTime": Datum(_iso(message.inserted_on), "string"),
            "NextVisibleTime": Datum(_iso(message.next_visible_on), "string"),
            "PopReceipt": Datum(message.pop_receipt, "string"),
        }
        argument = QueueMessageInConverter.decode(Datum(body, "string"), trigger_metadata=metadata)
        data: dict[str, Any] = {
            "queueTrigger": body,
            "id": message.id,
            "dequeueCount": message.dequeue_count,
            "popReceipt": message.pop_receipt,
        }
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                data = {**parsed, **data}
        except ValueError:
            pass
        try:
            self.invoker.invoke(
                self.function, argument, data, f"New queue message detected on '{self.queue_name}'."
            )
        except InvocationFailed:
            if (message.dequeue_count or 0) >= self.config.max_dequeue_count:
                log.warning(
                    "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                    self.config.max_dequeue_count,
                    self.poison.queue_name,
                )
                self._to_poison(message)
            else:
                self.queue.update_message(
                    message,
                    pop_receipt=message.pop_receipt,
                    visibility_timeout=int(self.config.visibility_timeout),
                )
            return
        self.queue.delete_message(message, pop_receipt=message.pop_receipt)

    def _to_poison(self, message: QueueMessage) -> None:
        try:
            self.poison.create_queue()
        except ResourceExistsError:
            pass
        self.poison.send_message(message.content)
        self.queue.delete_message(message, pop_receipt=message.pop_receipt)
