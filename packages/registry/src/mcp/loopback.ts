import { BlockList, isIP } from "node:net";
import { AriaError } from "@aria/errors";

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");
loopback.addSubnet("::ffff:127.0.0.0", 104, "ipv6");

/**
 * Whether a host (as in a URL, brackets allowed) is a loopback address: `localhost`, an IPv4 address
 * in 127.0.0.0/8, `::1`, or an IPv4-mapped 127.x address. Only literal addresses and `localhost`
 * count: any other name could resolve anywhere.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === "localhost") return true;
  const family = isIP(bare);
  if (family === 4) return loopback.check(bare, "ipv4");
  if (family === 6) return loopback.check(bare, "ipv6");
  return false;
}

/**
 * Parses an MCP server URL and refuses anything that is not `http(s)` on a loopback host
 * (MCP_SERVER_FORBIDDEN, `details.reason` `not_loopback` or `bad_url`). Aria only talks to MCP
 * servers on this machine.
 */
export function loopbackUrl(server: string, url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new AriaError("MCP_SERVER_FORBIDDEN", {
      message: `MCP server '${server}': '${url}' is not a valid URL`,
      details: { server, url, reason: "bad_url" },
      cause: error,
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new AriaError("MCP_SERVER_FORBIDDEN", {
      message: `MCP server '${server}': only http:// and https:// URLs are supported, not '${parsed.protocol}'`,
      details: { server, url, reason: "bad_url" },
    });
  }
  if (!isLoopbackHost(parsed.hostname)) {
    throw new AriaError("MCP_SERVER_FORBIDDEN", {
      message: `MCP server '${server}': ${parsed.hostname} is not a loopback address; only 127.0.0.0/8, ::1 and localhost are allowed`,
      details: { server, url, host: parsed.hostname, reason: "not_loopback" },
    });
  }
  return parsed;
}
