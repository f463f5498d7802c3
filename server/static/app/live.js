// Subscriptions over the graphql-transport-ws websocket at /graphql, with the bearer token in connection_init.
//
// The server closes with 4401 when the token expires and 4403 when it is
// refused: both sign the user out with a message. Any other close (a restart's
// 1012, a dropped network) reconnects, and ``onReconnect`` lets the page catch
// up on what it missed.

import {createClient} from "../vendor/graphql-ws/client.js";
import {currentSession, signOut} from "./session.js";

const SIGNED_OUT = {
  4401: "Your session has expired. Sign in again.",
  4403: "The server refused your token for live updates. Sign in again.",
};

const RETRIED = ["STREAM_INTERRUPTED", "THROTTLED"];

/** Whether a subscription's error is the server refusing the operation itself (its GraphQL errors), not a break. */
function refusal(error) {
  return Array.isArray(error) && error.length > 0 && !error.some((item) => RETRIED.includes(item?.extensions?.code));
}

/**
 * Subscribe to ``query``; ``onData(data)`` for each event, ``onStatus("live" | "reconnecting")``,
 * ``onReconnect()`` after a reconnection, ``onError(message)`` for an error result or a refusal (which is not
 * asked again). Returns a function that stops it.
 */
export function subscribe(query, {onData, onStatus = () => {}, onReconnect = () => {}, onError = () => {}}) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  let connectedBefore = false;
  const client = createClient({
    url: `${scheme}//${location.host}/graphql`,
    connectionParams: () => ({Authorization: `Bearer ${currentSession()?.token || ""}`}),
    retryAttempts: Infinity,
    shouldRetry: (event) => !(event && event.code in SIGNED_OUT),
    retryWait: async (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 15000))),
    on: {
      connected: () => {
        onStatus("live");
        if (connectedBefore) onReconnect();
        connectedBefore = true;
      },
      closed: (event) => {
        if (event && event.code in SIGNED_OUT) signOut(SIGNED_OUT[event.code], "websocket");
        else onStatus("reconnecting");
      },
    },
  });
  let stopOperation = () => {};
  let stopped = false;
  const start = () => {
    stopOperation = client.subscribe(
      {query},
      {
        next: (result) => {
          if (result.errors?.length) onError(result.errors[0].message);
          if (result.data) onData(result.data);
        },
        error: (error) => {
          if (stopped || (error && error.code in SIGNED_OUT)) return;
          if (refusal(error)) {
            // The server refused this operation (e.g. a value it cannot read): asking again would not help.
            onError(error[0].message);
            return;
          }
          // The server ended the stream (e.g. STREAM_INTERRUPTED, THROTTLED): subscribe again and catch up.
          onStatus("reconnecting");
          setTimeout(() => {
            if (stopped) return;
            start();
            onReconnect();
          }, 2000);
        },
        complete: () => {},
      },
    );
  };
  start();
  return () => {
    stopped = true;
    stopOperation();
    // dispose() awaits a connection still being made, and rejects if the server refuses it (already handled).
    Promise.resolve(client.dispose()).catch(() => {});
  };
}
