"""The strawberry internals this service relies on (server/strawberry_internals.py) are still there, with the same shape.

Each check names what an upgrade of strawberry-graphql changed, so it fails
here, loudly, rather than as a hanging subscription or a missing close code.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from packaging.specifiers import SpecifierSet

from server import strawberry_internals as internals


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_strawberry_is_a_supported_version():
    assert version("strawberry-graphql") in SpecifierSet(internals.SUPPORTED_VERSIONS)


def test_the_transport_handler_still_sends_each_result_through_the_private_steps_we_override():
    base = internals.BaseGraphQLTransportWSHandler
    assert parameters(base._send_result_stream) == ["self", "operation", "result_source"]
    assert parameters(base._handle_pre_execution_error) == ["self", "operation", "result"]
    assert parameters(base._reject_incremental_delivery) == ["self", "operation"]
    assert parameters(base.run_operation) == ["self", "operation"]
    assert parameters(base.handle_subscribe) == ["self", "message"]
    assert parameters(base.handle_connection_init) == ["self", "message"]
    assert parameters(base.handle_task_exception) == ["self", "error"]
    # run_operation calls the step we override, and catches the exception we re-raise
    source = inspect.getsource(base.run_operation)
    assert "self._send_result_stream(operation, result_source)" in source
    assert "except _OperationStreamClosed" in source
    assert issubclass(internals.OperationStreamClosed, Exception)


def test_the_transport_handler_still_keeps_its_operations_and_init_timeout_where_we_read_them():
    init = inspect.getsource(internals.BaseGraphQLTransportWSHandler.__init__)
    for attribute in (
        "self.operations",
        "self.connection_init_timeout_task",
        "self.connection_acknowledged",
        "self.connection_timed_out",
    ):
        assert attribute in init, attribute
    assert {"completed", "id", "query", "variables", "operation_name"} <= set(internals.Operation.__slots__)
    assert parameters(internals.Operation.send_next) == ["self", "execution_result"]
    assert parameters(internals.Operation.send_operation_message) == ["self", "message"]


def test_the_legacy_handler_still_has_the_hooks_we_override():
    base = internals.BaseGraphQLWSHandler
    assert parameters(base.handle_start) == ["self", "message"]
    assert parameters(base.handle_connection_init) == ["self", "message"]
    assert "self.connection_acknowledged" in inspect.getsource(base.__init__)
    assert "self.keep_alive" in inspect.getsource(base.__init__)


def test_the_validator_factories_still_build_validation_rules():
    from graphql import ValidationRule

    assert issubclass(internals.depth_limit_rule(12, None), ValidationRule)
    assert issubclass(internals.alias_limit_rule(30), ValidationRule)


def test_extensions_can_still_set_parse_options_the_parsed_document_and_validation_rules():
    from strawberry.types.execution import ExecutionContext

    fields = set(inspect.signature(ExecutionContext).parameters) | set(ExecutionContext.__dataclass_fields__)
    assert {"parse_options", "graphql_document", "validation_rules", "query"} <= fields


def test_the_graphiql_page_is_still_built_by_get_graphql_ide_html():
    assert parameters(internals.get_graphql_ide_html)[0] == "graphql_ide"
    assert "<html" in internals.get_graphql_ide_html("graphiql")


def test_the_websocket_adapter_still_reads_messages_through_iter_json_from_its_ws():
    assert parameters(internals.ASGIWebSocketAdapter.iter_json) == ["self", "ignore_parsing_errors"]
    # server/ws_deadlines.py writes to, and reads the scope of, the adapter's starlette websocket
    assert "self.ws = " in inspect.getsource(internals.ASGIWebSocketAdapter.__init__)


def test_both_handlers_still_send_every_message_through_send_message():
    # server/ws_deadlines.py overrides it to put deadlines and the backlog on every send
    for base in (internals.BaseGraphQLTransportWSHandler, internals.BaseGraphQLWSHandler):
        assert parameters(base.send_message) == ["self", "message"]
    assert "self.handler.send_message(message)" in inspect.getsource(internals.Operation.send_operation_message)


def test_origins_are_still_written_as_browsers_send_them():
    from server.strawberry_internals import websocket_origin_of

    assert websocket_origin_of("HTTPS://Certify.Example:443/path") == "https://certify.example"
    assert websocket_origin_of("http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_the_request_adapter_still_keeps_the_starlette_request_it_wraps():
    from cross_web import StarletteRequestAdapter
    from starlette.requests import Request

    request = Request({"type": "http", "method": "POST", "headers": [], "query_string": b""})
    assert internals.starlette_request_of(StarletteRequestAdapter(request)) is request
    assert internals.starlette_request_of(object()) is None
