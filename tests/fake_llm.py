"""A fake OpenAI-compatible chat server on 127.0.0.1 for the answer tests.

The request's ``model`` picks the behaviour: ``good`` answers from the passages with [n]
markers, ``badref`` cites a card that was not given, ``nomarks`` writes no markers,
``half`` cites its first sentence and not its second, ``quote`` invents a quotation, ``noinfo`` says the passages do not answer, ``slow`` never
finishes in time, ``plain`` ignores ``stream`` and sends one JSON body. ``good`` and the
others echo text taken from passage [1] of the prompt, so the citation check has
something real to check.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def passage_one(prompt: str) -> str:
    m = re.search(r"\[1\] 出处：[^\n]*\n([^\n]+)", prompt)
    return m.group(1) if m else ""


def reply_for(model: str, prompt: str) -> str:
    first = re.split(r"(?<=[。；！？])", passage_one(prompt))[0]
    return {
        "good": f"{first}[1]",
        "plain": f"{first}[1]",
        "badref": f"{first}[9]",
        "nomarks": f"{first}另外还要加强宣传。",
        "half": f"{first}[1]另外还要加强宣传。",
        "quote": f"讲话指出「全镇财政收入翻两番达到九十亿元」。[1]",
        "noinfo": "资料中没有相关信息。",
        "slow": f"{first}[1]",
    }.get(model, "")


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body.get("model", "")
        prompt = body["messages"][-1]["content"]
        text = reply_for(model, prompt)
        self.server.requests.append(body)
        if model == "slow":
            time.sleep(3)
        if model == "plain" or not body.get("stream"):
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for k in range(0, len(text), 4):
                chunk = {"choices": [{"delta": {"content": text[k:k + 4]}}]}
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass


def start() -> tuple[ThreadingHTTPServer, str]:
    """Serve on a free loopback port; returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
