// GraphQL over fetch with the signed-in bearer token (POST /graphql).
//
// A refused token (extensions.code UNAUTHENTICATED, or HTTP 401) signs the
// user out with the server's words; any other failure is thrown as an
// ApiError whose message can be shown as it is.

import {currentSession, signOutRefused, tokenAccepted} from "./session.js";

export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || "";
  }
}

function refused(message) {
  signOutRefused(message);
  return new ApiError(message, "UNAUTHENTICATED");
}

/** Execute ``query`` with ``variables``; its ``data``. Throws ApiError. */
export async function graphql(query, variables = {}) {
  const session = currentSession();
  if (!session) throw new ApiError("You are not signed in.", "UNAUTHENTICATED");
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {"Content-Type": "application/json", Authorization: `Bearer ${session.token}`},
      body: JSON.stringify({query, variables}),
    });
  } catch {
    throw new ApiError("The server could not be reached. Check your connection and try again.", "NETWORK");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`The server answered ${response.status} without a readable reply.`, "HTTP");
  }
  const errors = body.errors || [];
  const unauthenticated = errors.find((error) => error.extensions?.code === "UNAUTHENTICATED");
  if (unauthenticated || response.status === 401) {
    throw refused(unauthenticated?.message || "your token was refused.");
  }
  tokenAccepted(session.token);
  if (errors.length) throw new ApiError(errors[0].message, errors[0].extensions?.code);
  return body.data;
}
