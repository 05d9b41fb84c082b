#include "otlp/attributes.h"

namespace tt::otlp {

namespace {

struct SetValue {
  common::AnyValue* v;
  void operator()(const std::string& s) const { v->set_string_value(s); }
  void operator()(int64_t i) const { v->set_int_value(i); }
  void operator()(bool b) const { v->set_bool_value(b); }
  void operator()(const std::vector<std::string>& list) const {
    auto* arr = v->mutable_array_value();
    for (const auto& s : list) arr->add_values()->set_string_value(s);
  }
};

}  // namespace

void add_attributes(const Attrs& attrs, google::protobuf::RepeatedPtrField<common::KeyValue>* out) {
  for (const Attr& a : attrs) {
    common::KeyValue* kv = out->Add();
    kv->set_key(a.key);
    std::visit(SetValue{kv->mutable_value()}, a.value);
  }
}

}  // namespace tt::otlp
