// placeholder, replaced by the BPF loader
namespace tt::capture {}
