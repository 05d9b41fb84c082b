// sink: JSON lines written straight from reflection are byte for byte what the
// nlohmann DOM they replaced produced, for every record type and awkward values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "sink/sink.h"

namespace {

namespace v1 = ::tokentap::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The writer before this one: a DOM from reflection, dumped by nlohmann.
nlohmann::json reference_message(const Message& m);

nlohmann::json reference_value(const Message& m, const Reflection* r, const FieldDescriptor* f, int i) {
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f);
    case FieldDescriptor::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM: return rep ? r->GetRepeatedEnum(m, f, i)->name() : r->GetEnum(m, f)->name();
    case FieldDescriptor::CPPTYPE_STRING: return rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return reference_message(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f));
  }
  return nullptr;
}

nlohmann::json reference_message(const Message& m) {
  nlohmann::json j = nlohmann::json::object();
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    if (!f->is_repeated()) {
      j[f->name()] = reference_value(m, r, f, 0);
      continue;
    }
    nlohmann::json arr = nlohmann::json::array();
    for (int i = 0; i < r->FieldSize(m, f); ++i) arr.push_back(reference_value(m, r, f, i));
    j[f->name()] = std::move(arr);
  }
  return j;
}

std::string reference_json(const char* type, const Message& m) {
  nlohmann::json out = nlohmann::json::object();
  out["type"] = type;
  out.update(reference_message(m));
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

TEST(JsonLines, SameBytesAsTheNlohmannDom) {
  v1::Record req;
  auto* a = req.mutable_request();
  a->set_model("claude-sonnet-4-5");
  a->set_comm(std::string("ab\xff\xfe\xc3", 5));             // not UTF-8
  a->set_user_agent("quote \" back\\slash \x01\t\n\x7f caf\xc3\xa9 \xe2\x82\xac");  // escapes, UTF-8
  a->set_input_tokens(UINT64_MAX);
  a->set_stream(true);
  a->set_latency_ms(12.5);
  a->set_ttfb_ms(0.1);
  auto* an = a->mutable_anatomy();  // nested messages, fixed64 beyond 2^53, repeated fields
  an->mutable_tools()->set_bytes(1234);
  an->mutable_tools()->set_tokens(300);
  an->mutable_tools()->set_count(2);
  an->add_tool_names("Bash");
  an->add_tool_bytes(1234);
  an->add_prefix_hashes(UINT64_MAX);
  an->add_prefix_hashes(0x9e3779b97f4a7c15);
  an->add_prefix_bytes(77);
  an->set_conversation_hash(0x8000000000000001);
  an->set_new_user_turn(true);
  a->add_tools_called("Bash");
  v1::Record run;
  run.mutable_run()->set_tokentap_version("0.1.0");
  run.mutable_run()->add_command("claude");
  run.mutable_run()->add_command("-p");
  run.mutable_run()->add_command("h\xe9llo");
  run.mutable_run()->mutable_totals()->set_output_tokens(7);
  run.mutable_run()->set_exit_code(-3);
  v1::Record session;
  session.mutable_session()->add_pids(5);
  session.mutable_session()->add_pids(4000000000u);
  session.mutable_session()->add_models("m1");
  v1::Record process;
  process.mutable_process()->set_pid(1);
  v1::Record odd;
  odd.mutable_request()->set_latency_ms(std::numeric_limits<double>::quiet_NaN());
  odd.mutable_request()->set_ttfb_ms(1e300);

  struct Case {
    const char* type;
    const v1::Record* rec;
    const Message* msg;
  } cases[] = {{"request", &req, &req.request()},       {"run", &run, &run.run()},
               {"session", &session, &session.session()}, {"process", &process, &process.process()},
               {"request", &odd, &odd.request()}};
  for (const auto& c : cases) {
    std::string got = tt::sink::record_to_json(*c.rec);
    EXPECT_EQ(got, reference_json(c.type, *c.msg));
    auto j = nlohmann::json::parse(got);  // and it is JSON with every field
    EXPECT_EQ(j.size(), static_cast<size_t>(c.msg->GetDescriptor()->field_count()) + 1);
    EXPECT_EQ(j["type"], c.type);
  }
  auto j = nlohmann::json::parse(tt::sink::record_to_json(req));
  EXPECT_EQ(j["comm"], "ab\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["input_tokens"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["latency_ms"].get<double>(), 12.5);
  EXPECT_EQ(j["anatomy"]["prefix_hashes"][0].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(j["anatomy"]["conversation_hash"].get<uint64_t>(), 0x8000000000000001u);
  EXPECT_EQ(j["anatomy"]["tools"]["tokens"], 300);
  EXPECT_EQ(j["tools_called"][0], "Bash");
  EXPECT_TRUE(nlohmann::json::parse(tt::sink::record_to_json(odd))["latency_ms"].is_null());
}

TEST(JsonLines, EmptyRecord) {
  EXPECT_EQ(tt::sink::record_to_json(v1::Record()), R"({"type":"unknown"})");
  v1::Record empty_request;
  empty_request.mutable_request();
  EXPECT_EQ(tt::sink::record_to_json(empty_request), reference_json("request", empty_request.request()));
}

// --json lines read back into the records they came from (report and diff take
// either kind of file): every kind, 64-bit hashes and a spool number kept exactly.
TEST(JsonLines, ReadBackIntoRecords) {
  v1::Record req;
  req.set_seq(7);
  auto* r = req.mutable_request();
  r->set_run_id("run");
  r->set_model("m\xc3\xa9");
  r->set_input_tokens(UINT64_MAX - 1);
  r->set_cost_usd(0.0123);
  r->mutable_anatomy()->add_prefix_hashes(0xfedcba9876543210ull);
  r->mutable_anatomy()->mutable_system()->set_tokens(42);
  r->add_tools_called("Read");
  v1::Record run;
  run.mutable_run()->set_run_id("run");
  run.mutable_run()->add_command("claude");
  for (const v1::Record& rec : {req, run}) {
    v1::Record back;
    ASSERT_TRUE(tt::sink::record_from_json(tt::sink::record_to_json(rec), back));
    // Equivalent: the JSON names every field, so empty sub-messages come back present.
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equivalent(back, rec)) << back.DebugString();
    EXPECT_EQ(back.seq(), rec.seq());
  }
  v1::Record bad;
  for (const char* line : {"", "{}", R"({"type":"nope"})", R"({"type":"request","input_tokens":"x"})", "[1]"})
    EXPECT_FALSE(tt::sink::record_from_json(line, bad)) << line;
}

}  // namespace
