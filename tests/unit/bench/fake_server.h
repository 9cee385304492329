// A scripted stand-in for an OpenAI-compatible server, for the serving benchmark's tests: plain
// POSIX sockets on 127.0.0.1 (port chosen by the kernel), a thread per connection, and for each
// request a Script saying what to answer — status, body pieces each after a delay, and how the
// stream ends (properly, closed mid-body, or silent). The server keeps a trace of when it read each
// request and wrote each part, so timing tests can compare what the benchmark measured with what
// the server did (on a busy machine a scripted 20 ms sleep may well take 30).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace osprey::bench::test {

struct Script {
  int status = 200;
  struct Part {
    int delay_ms;      // after the previous part (or the request)
    std::string data;  // written as one chunk (chunked) or as is
  };
  std::vector<Part> parts;
  bool chunked = true;  // Transfer-Encoding: chunked; false: the body ends when the socket closes
  bool drop = false;    // close after the parts without ending the body
  int hang_ms = 0;      // before closing, stay silent this long
  bool no_response = false;  // close as soon as the request is read, without a status line
};

// "data: <json>\n\n" for a completions chunk carrying `text`.
inline std::string text_event(const std::string& text) {
  return "data: {\"choices\":[{\"index\":0,\"text\":\"" + text + "\",\"finish_reason\":null}]}\n\n";
}
inline std::string usage_event(int prompt_tokens, int completion_tokens) {
  return "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
         ",\"completion_tokens\":" + std::to_string(completion_tokens) + "}}\n\n";
}
inline const std::string kDone = "data: [DONE]\n\n";

// A stream: the first token after `ttft_ms`, then one every `gap_ms`, then usage and [DONE].
inline Script token_stream(int ttft_ms, int gap_ms, int tokens, bool usage = true) {
  Script s;
  for (int i = 0; i < tokens; ++i) s.parts.push_back({i == 0 ? ttft_ms : gap_ms, text_event("t")});
  if (usage) s.parts.push_back({0, usage_event(7, tokens)});
  s.parts.push_back({0, kDone});
  return s;
}

struct Trace {
  std::chrono::steady_clock::time_point read;                 // the request was read
  std::vector<std::chrono::steady_clock::time_point> writes;  // each part was written
};

inline double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

class FakeServer {
 public:
  // `script(i, body)`: the answer to the i-th request (0-based, in the order they were read).
  explicit FakeServer(std::function<Script(int, const std::string&)> script)
      : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 256) != 0) {
      throw std::runtime_error("fake server: bind/listen failed");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FakeServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(fd_);
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return next_.load(); }
  std::vector<std::string> bodies() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  // By request index; complete for requests whose connection is closed.
  std::vector<Trace> traces() const {
    std::lock_guard<std::mutex> lock(mu_);
    return traces_;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }

  static bool write_all(int c, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void serve(int c) {
    std::string req;
    char buf[4096];
    size_t head_end = std::string::npos, want = 0;
    while (true) {
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos && (head_end = req.find("\r\n\r\n")) != std::string::npos) {
        const size_t cl = req.find("Content-Length: ");
        want = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
      }
      if (head_end != std::string::npos && req.size() >= head_end + 4 + want) break;
    }
    const std::string body = head_end == std::string::npos ? "" : req.substr(head_end + 4);
    Trace trace;
    trace.read = std::chrono::steady_clock::now();
    const int i = next_++;
    {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(body);
    }
    const Script s = script_(i, body);
    if (!s.no_response) {
      std::string head = "HTTP/1.1 " + std::to_string(s.status) + " X\r\nConnection: close\r\n";
      head += s.status == 200 ? "Content-Type: text/event-stream\r\n"
                              : "Content-Type: application/json\r\n";
      if (s.chunked) head += "Transfer-Encoding: chunked\r\n";
      head += "\r\n";
      bool ok = write_all(c, head);
      // Each part at its scripted time since the request was read: a late wake-up (a busy machine)
      // delays that part only, instead of every part after it.
      auto at = trace.read;
      for (const auto& p : s.parts) {
        if (!ok) break;
        at += std::chrono::milliseconds(p.delay_ms);
        std::this_thread::sleep_until(at);
        trace.writes.push_back(std::chrono::steady_clock::now());
        if (s.chunked) {
          char size[32];
          std::snprintf(size, sizeof size, "%zx\r\n", p.data.size());
          ok = write_all(c, size + p.data + "\r\n");
        } else {
          ok = write_all(c, p.data);
        }
      }
      {  // before the body ends, which is when the client may look
        std::lock_guard<std::mutex> lock(mu_);
        if (traces_.size() <= static_cast<size_t>(i)) traces_.resize(static_cast<size_t>(i) + 1);
        traces_[static_cast<size_t>(i)] = trace;
      }
      if (ok && s.hang_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s.hang_ms));
      if (ok && s.chunked && !s.drop) write_all(c, "0\r\n\r\n");
    }
    ::shutdown(c, SHUT_RDWR);
    ::close(c);
  }

  std::function<Script(int, const std::string&)> script_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> next_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
  std::vector<Trace> traces_;
};

}  // namespace osprey::bench::test
