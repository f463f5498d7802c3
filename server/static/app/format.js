// How the pages write instants and numbers: as the e-mails, the verify page and the certificate do
// (resolvers/wording.py), "3 December 2026, 10:36 UTC" and "1,000,000", whatever the reader's locale.

const MINUTE = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "long",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: "UTC",
});

/** "3 December 2026, 10:36 UTC" for an ISO 8601 instant (or a Date); "—" for none. */
export function utcMinute(instant) {
  if (!instant) return "—";
  const parts = Object.fromEntries(MINUTE.formatToParts(new Date(instant)).map((part) => [part.type, part.value]));
  return `${parts.day} ${parts.month} ${parts.year}, ${parts.hour}:${parts.minute} UTC`;
}

/** A whole number with commas between thousands: 1,000,000. */
export function number(value) {
  return Number(value).toLocaleString("en-US");
}
