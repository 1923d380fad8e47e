fn main() {
    std::process::exit(hpsearch::cli::main());
}
